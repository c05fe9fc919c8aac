//! A generator of realistic synthetic clusters, for benchmarks and scale tests.
//!
//! Every node runs the same checks with the same texts (taken from a real kube-bench run
//! by the caller), as in a real cluster; what varies per node is the outcome of a few
//! checks, its Kubernetes version, its hourly timestamps and sometimes a failed run.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use compliance_core::model::{BenchmarkDocument, BenchmarkTest, TestStatus};

/// Shape of the generated cluster.
#[derive(Debug, Clone)]
pub struct ClusterShape {
    pub nodes: usize,
    /// Hourly documents per node, the newest shortly before `end` (the benchmarks use 24).
    pub docs_per_node: usize,
    pub end: DateTime<Utc>,
    pub seed: u64,
}

/// A small, fast, deterministic PRNG (xorshift64*): benchmarks must generate the same
/// cluster every time, and no randomness crate is needed for that.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

/// The seed of a randomised test: `variable` when set (to replay a run), else one from
/// the clock. The caller prints it, so a failing run can be repeated.
///
/// Panics naming the variable when it is set but not a number.
pub fn seed_from_env(variable: &str) -> u64 {
    match std::env::var(variable) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{variable}={v:?}: expected a number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

const VERSIONS: [&str; 4] = ["1.29.3", "1.30.1", "1.28.7", "1.13.7"];

/// Streams the documents of a cluster, node by node, oldest document first.
///
/// About 1 in 100 nodes has its latest run failed (the report falls back to the run
/// before it) and 1 in 200 has only failed runs (the report shows it LOW with the
/// error). Each document flips the outcome of about 1 in 10 checks relative to the
/// template so nodes differ.
pub fn cluster<'a>(
    shape: &'a ClusterShape,
    template: &'a [BenchmarkTest],
    benchmark_version: &'a str,
) -> impl Iterator<Item = BenchmarkDocument> + 'a {
    let mut rng = Rng::new(shape.seed);
    (0..shape.nodes).flat_map(move |n| {
        let node_name = format!("ip-10-{}-{}-{}.cluster.internal", n / 65536, (n / 256) % 256, n % 256);
        let version = VERSIONS[rng.below(VERSIONS.len() as u64) as usize];
        let offset = Duration::seconds(rng.below(3600) as i64);
        let kind = rng.below(200);
        let seed = rng.next_u64();
        let docs = shape.docs_per_node;
        let end = shape.end;
        (0..docs).map(move |k| {
            let mut rng = Rng::new(seed ^ (k as u64).wrapping_mul(0x1000_0001));
            let timestamp = end - Duration::hours((docs - k) as i64) + offset;
            let latest = k + 1 == docs;
            let error = if kind == 0 || (kind < 3 && latest) {
                "kube-bench exited with status 1: cannot find the kubelet binary: searched PATH, /usr/bin, /usr/local/bin and /usr/local/mount-from-host/bin".to_string()
            } else {
                String::new()
            };
            let tests = if error.is_empty() {
                template
                    .iter()
                    .map(|t| {
                        let status = if rng.below(10) == 0 {
                            match t.status {
                                TestStatus::Pass => TestStatus::Fail,
                                TestStatus::Fail => TestStatus::Pass,
                                _ => t.status.clone(),
                            }
                        } else {
                            t.status.clone()
                        };
                        BenchmarkTest {
                            text: Arc::clone(&t.text),
                            status,
                            scored: t.scored,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            BenchmarkDocument {
                version: benchmark_version.to_string(),
                kubernetes_version: version.to_string(),
                kind: "kube".to_string(),
                node_name: node_name.clone(),
                timestamp,
                error,
                tests,
                cluster: "cluster".to_string(), platform: String::new(), kube_bench_version: String::new(), benchmarker_version: String::new(), benchmark_choice: String::new(), 
            }
        })
    })
}
