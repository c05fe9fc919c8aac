//! The benchmarker: runs the CIS checks (kube-bench) on its node, every hour, and stores
//! one benchmark document per run (docs/spec.md §3) for the reporter.
//!
//! The binary `compliance-benchmarker` reads the environment into [`config::Settings`],
//! opens the store and the health endpoint, and calls [`service`].
//!
//! Split like the rest of the workspace: the decisions (which version, whether a result is
//! worth storing, when to run next, how long to wait before retrying the store) are pure
//! functions; running processes and writing to the store are thin layers around them.

pub mod config;
pub mod dedupe;
pub mod engine;
pub mod facts;
pub mod metrics;
pub mod platform;
pub mod process;
pub mod schedule;
pub mod service;
pub mod version;
pub mod writer;
