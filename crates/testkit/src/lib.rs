//! Test support shared by every crate of the workspace, compiled once.
//!
//! - [`fake_es`]: an in-process Elasticsearch that speaks the store's documented protocol;
//! - [`fault_proxy`]: a TCP proxy in front of it that resets, truncates, replaces or holds
//!   back answers, by rule;
//! - [`fixtures`]: the real kube-bench outputs and builders of documents and reports;
//! - [`reports`]: whole reports computed from the fixtures or a synthetic cluster;
//! - [`sequence`]: sequences of reports of one GlobalReport for diffs, lifecycles and
//!   waivers;
//! - [`synth`]: synthetic clusters of any size for benchmarks and scale tests;
//! - [`apiserver`]: a real kube-apiserver (built from Debian's sources) for the tests that
//!   need one;
//! - [`browser`]: a real headless Chromium, driven through ChromeDriver, for the pages;
//! - [`metrics`]: the metrics contract of `docs/metrics.md`, expositions read back, and
//!   where Debian's `prometheus` and `promtool` are;
//! - [`prometheus`]: a real Prometheus scraping the components, queried over its API;
//! - [`validators`]: the Python validators of the exports (JUnit XML, OSCAL);
//! - [`rbac`]: the manifests' RBAC applied as published, and ServiceAccount tokens;
//! - [`secrets`]: the secrets tests hand to programs, and the programs' output kept for
//!   the log scan (scripts/secret-scan.sh).

pub mod apiserver;
pub mod browser;
pub mod fake_es;
pub mod fault_proxy;
pub mod fixtures;
pub mod metrics;
pub mod process;
pub mod prometheus;
pub mod rbac;
pub mod reports;
pub mod secrets;
pub mod sequence;
pub mod synth;
pub mod validators;
