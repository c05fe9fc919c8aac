//! Times the diff of two 10,000-node reports and the lifecycle over 30 daily ones, the
//! way the store does it (each report indexed node by node, then dropped), and prints
//! the time of each step; run under `/usr/bin/time -v` for the peak memory.
//!
//! `cargo run --release -p compliance-core --example findings_scale [NODES] [DAYS]`

use std::time::Instant;

use compliance_core::report::{Lifecycle, diff};
use compliance_testkit::sequence::DailyCluster;

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map_or(10_000, |a| a.parse().expect("NODES"));
    let days: usize = args.next().map_or(30, |a| a.parse().expect("DAYS"));
    let cluster = DailyCluster::new(nodes, 20);

    let started = Instant::now();
    let old = cluster.findings(0);
    let new = cluster.findings(1);
    let indexed = started.elapsed();
    let started = Instant::now();
    let d = diff(&old, &new);
    let diffed = started.elapsed();
    println!(
        "diff of two {nodes}-node reports ({} and {} failures): {:.1} ms (indexing both: {:.0} ms); \
         new {}, persisting {}, resolved {}, newNode {}, gone {}",
        old.failures.len(),
        new.failures.len(),
        diffed.as_secs_f64() * 1e3,
        indexed.as_secs_f64() * 1e3,
        d.counts.new,
        d.counts.persisting,
        d.counts.resolved,
        d.counts.new_node,
        d.counts.gone
    );
    drop((old, new, d));

    let mut l = Lifecycle::new();
    let mut folding = std::time::Duration::ZERO;
    let started = Instant::now();
    for day in 0..days {
        let f = cluster.findings(day);
        let t = Instant::now();
        l.observe(&f).expect("ascending days");
        folding += t.elapsed();
    }
    let t = Instant::now();
    let all = l.findings();
    let listed = t.elapsed();
    println!(
        "lifecycle over {days} reports of {nodes} nodes: {:.0} ms folding, {:.0} ms listing {} findings ({:.1} s with indexing every report)",
        folding.as_secs_f64() * 1e3,
        listed.as_secs_f64() * 1e3,
        all.len(),
        started.elapsed().as_secs_f64()
    );
}
