//! End-to-end tests of the binaries, the manifests and the CRDs: one test binary, so the
//! workspace links it once (run one part with `cargo test --test e2e cli::`).
//!
//! The binaries run as a user runs them (`CARGO_BIN_EXE_*`), against real kube-bench
//! outputs, a SQLite file, the fake Elasticsearch and, where built, a real kube-apiserver;
//! the server over HTTPS as a client reaches it.

mod apiserver;
mod benchmarker;
mod cli;
mod crash;
mod crds;
mod elastic;
mod faults_elastic;
mod faults_sqlite;
mod findings;
mod hostile;
mod least_privilege;
mod manifests;
mod metrics;
mod monitoring;
mod notifications;
mod server;
