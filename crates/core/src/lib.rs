//! The pure core of CIS benchmark reports: what the documents are, how a report is
//! computed from them, and how its downloads are written.
//!
//! Nothing here does IO, reads the clock or the environment: callers pass in bytes,
//! readers, writers and times. The layers go one way, each using only those above it:
//!
//! - [`time`], [`order`], [`version`], [`schedule`], [`error`]: small leaf types;
//! - [`model`]: the documents and resources with their exact JSON keys (docs/spec.md);
//! - [`import`]: kube-bench output and NDJSON documents into the model;
//! - [`report`]: the report rules (docs/spec.md §4) and the UI summary;
//! - [`render`]: the downloads (docs/spec.md §6) as writers over [`std::io::Write`].

pub mod error;
pub mod import;
pub mod model;
pub mod order;
pub mod render;
pub mod report;
pub mod schedule;
pub mod time;
pub mod version;
