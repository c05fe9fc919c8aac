//! Files the CLI reads: kube-bench outputs, and this host's name as the default node.
//!
//! The parsing is the core's ([`compliance_core::import`]); this is only the reading.

use std::fs;
use std::path::Path;

use compliance_core::import::kube_bench::{
    Imported, KubeBenchOptions, KubeBenchRun, build_document, parse_kube_bench,
};
use compliance_core::import::{ImportError, read_limited};
use compliance_core::model::TextInterner;

/// Where Linux publishes the host name (what `gethostname` returns); read as a file so
/// that no unsafe FFI is needed. In a pod with host networking it is the node's name.
const PROC_HOSTNAME: &str = "/proc/sys/kernel/hostname";

/// The name of this host: `/proc/sys/kernel/hostname`, else `$HOSTNAME`.
///
/// The CLI's default node name, since kube-bench runs on the node it checks.
/// `hostname_variable` is HOSTNAME as the settings read it.
pub fn host_name(hostname_variable: Option<String>) -> Result<String, ImportError> {
    host_name_from(Path::new(PROC_HOSTNAME), hostname_variable)
}

fn host_name_from(proc_path: &Path, env: Option<String>) -> Result<String, ImportError> {
    let reason = match fs::read_to_string(proc_path) {
        Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_string()),
        Ok(_) => "it is empty".to_string(),
        Err(e) => e.to_string(),
    };
    match env {
        Some(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        _ => Err(ImportError::HostName {
            path: proc_path.to_path_buf(),
            reason,
        }),
    }
}

/// Reads and parses one kube-bench output file, refusing one larger than `limit` bytes
/// (KUBE_BENCH_MAX_OUTPUT) before holding more than that in memory.
pub fn read_kube_bench(
    path: &Path,
    limit: u64,
    interner: &mut TextInterner,
) -> Result<KubeBenchRun, ImportError> {
    let file = fs::File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = read_limited(file, path, limit)?;
    parse_kube_bench(path, &bytes, interner)
}

/// Reads every file (all results of one node), each at most `limit` bytes, and builds
/// its document.
pub fn import_kube_bench<P: AsRef<Path>>(
    paths: &[P],
    options: &KubeBenchOptions,
    limit: u64,
    interner: &mut TextInterner,
) -> Result<Imported, ImportError> {
    let runs = paths
        .iter()
        .map(|p| read_kube_bench(p.as_ref(), limit, interner))
        .collect::<Result<Vec<_>, _>>()?;
    build_document(runs, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_falls_back_to_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let proc_file = dir.path().join("hostname");
        std::fs::write(&proc_file, "node-a\n").unwrap();
        assert_eq!(host_name_from(&proc_file, None).unwrap(), "node-a");

        let missing = dir.path().join("absent");
        assert_eq!(
            host_name_from(&missing, Some("node-b".into())).unwrap(),
            "node-b"
        );
        std::fs::write(&proc_file, "\n").unwrap();
        let e = host_name_from(&proc_file, Some(" ".into())).unwrap_err();
        assert!(e.to_string().contains("it is empty"), "{e}");
        assert!(matches!(
            host_name_from(&missing, None),
            Err(ImportError::HostName { .. })
        ));
    }
}
