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

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Classify, ErrorKind};

pub use kube_bench::{
    ImportWarning, Imported, KubeBenchOptions, KubeBenchRun, MAX_NODE_NAME_BYTES, build_document,
    check_node_name, is_unprintable, normalise_benchmark_version, parse_kube_bench,
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

    #[error(
        "{}: kube-bench output is larger than the limit of {} set by {MAX_SIZE_VARIABLE}",
        path.display(),
        size_text(*limit)
    )]
    TooLarge { path: PathBuf, limit: u64 },

    #[error("no node name given for the imported results")]
    EmptyNodeName,

    #[error("node name {value} {reason}")]
    InvalidNodeName { value: String, reason: String },

    #[error("no kube-bench results to import for node {node}")]
    NothingToMerge { node: String },

    #[error(
        "cannot determine the host name ({}: {reason}; $HOSTNAME is not set); pass the node \
         name explicitly",
        path.display()
    )]
    HostName { path: PathBuf, reason: String },
}

/// The variable that sets the most kube-bench output read, by `compliancectl import
/// kube-bench` and by the benchmarker.
pub const MAX_SIZE_VARIABLE: &str = "KUBE_BENCH_MAX_OUTPUT";

/// Default [`MAX_SIZE_VARIABLE`]: 64 MiB. A full control-plane run prints about 1 MB, so
/// only a runaway program or a wrong file reaches it; the whole input is held in memory
/// while parsed, so the limit bounds that memory.
pub const DEFAULT_MAX_SIZE: u64 = 64 << 20;

/// A byte count as the messages say it: whole MiB when it is one, else bytes.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Whether `len` bytes of input exceed `limit`: the one decision [`read_limited`] makes.
pub fn exceeds_limit(len: u64, limit: u64) -> bool {
    len > limit
}

/// Reads all of `reader` (kube-bench output from `path`) into memory, refusing input
/// larger than `limit` bytes with [`ImportError::TooLarge`].
///
/// At most `limit + 1` bytes are ever read (`Read::take`), so a 1 GB file or an endless
/// pipe costs no more memory than the limit allows before it is refused.
pub fn read_limited(
    mut reader: impl Read,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, ImportError> {
    let mut bytes = Vec::new();
    (&mut reader)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if exceeds_limit(bytes.len() as u64, limit) {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

impl Classify for ImportError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}
