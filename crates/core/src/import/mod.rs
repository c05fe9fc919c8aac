//! Turning input files into benchmark documents (docs/spec.md §3).
//!
//! Two kinds of input reach the store from outside the benchmarker:
//!
//! - [`kube_bench`]: kube-bench `--json` output. It says nothing about which node it ran
//!   on or when, so the caller supplies those, and several files of one node (a master
//!   run and a node run) become one document.
//! - [`ndjson`]: documents already in the docs/spec.md §3 schema, one per line, as exported from a
//!   store. Large files are streamed, and a bad line is skipped rather than failing the
//!   whole import, because one corrupt record should not cost the other 239,999.
//!
//! Both pass test texts through a caller's [`TextInterner`](crate::model::TextInterner)
//! so that thousands of nodes share one copy of each description.

pub mod kube_bench;
pub mod ndjson;

use std::path::PathBuf;

use crate::error::{Classify, ErrorKind};

pub use kube_bench::{
    ImportWarning, Imported, KubeBenchOptions, KubeBenchRun, build_document,
    normalise_benchmark_version, parse_kube_bench,
};
pub use ndjson::{NdjsonReader, NdjsonStats, SkippedLine, read_all};

/// Why an input could not be imported. Every variant that comes from a file names it.
///
/// All of them are [`ErrorKind::Invalid`]: the input (or its name, or the path given) is
/// what must change, even when the file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is empty (did kube-bench fail before printing its results?)", path.display())]
    Empty { path: PathBuf },

    #[error(
        "{} is kube-bench's text output, not JSON; run kube-bench with --json",
        path.display()
    )]
    TextOutput { path: PathBuf },

    #[error("{} is not JSON (line {line}, column {column}): {message}", path.display())]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "{} is JSON but holds no kube-bench controls ({detail}); expected kube-bench --json \
         output: an array of controls or {{\"Controls\": [...]}}",
        path.display()
    )]
    NoControls { path: PathBuf, detail: String },

    #[error("{}: the kube-bench controls contain no results (no check was run)", path.display())]
    NoResults { path: PathBuf },

    #[error("{}: {location} has no `{key}` (or it is empty)", path.display())]
    MissingKey {
        path: PathBuf,
        key: &'static str,
        location: String,
    },

    #[error("{}: {location}: {message}", path.display())]
    InvalidValue {
        path: PathBuf,
        location: String,
        message: String,
    },

    #[error("no node name given for the imported results")]
    EmptyNodeName,

    #[error("no kube-bench results to import for node {node}")]
    NothingToMerge { node: String },

    #[error(
        "cannot determine the host name ({}: {reason}; $HOSTNAME is not set); pass the node \
         name explicitly",
        path.display()
    )]
    HostName { path: PathBuf, reason: String },
}

impl Classify for ImportError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}
