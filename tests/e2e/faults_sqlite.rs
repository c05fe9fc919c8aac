//! SQLite faults met by the real binaries: a full disk (a tiny tmpfs), a read-only file
//! or mount, and a write lock held by another process. Each run must fail with exit 1
//! and an error naming the database and the reason, and leave the database intact,
//! holding exactly the reports it held before; once the fault is gone, the same run
//! succeeds.
//!
//! The tmpfs tests need `mount` (root, as here and in CI); where it is refused they print
//! a line with SKIPPED and pass. Root ignores file modes, so "read-only" is made real with
//! what binds root too: `chattr +i` on the file, and a read-only remount of the tmpfs.

use compliance_testkit::secrets::Kept as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use compliance_testkit::fixtures::{fixture, root, stderr};
use rusqlite::{Connection, OpenFlags};
use tempfile::TempDir;

/// One day's window, as `(start, end)`, `day` days after 2026-11-25.
pub(super) fn window(day: i64) -> (String, String) {
    let start =
        compliance_testkit::fixtures::t("2026-11-25T00:00:00Z") + chrono::Duration::days(day);
    let end = start + chrono::Duration::days(1);
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    (f(start), f(end))
}

/// The reporter for the window of `day`, on the SQLite file `db`, not yet started.
pub(super) fn reporter_command(db: &Path, day: i64) -> Command {
    let (start, end) = window(day);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compliance-reporter"));
    cmd.env_clear()
        .env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()))
        // Fixed dates fall out of any retention as the clock moves on.
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .env("COMPLIANCE_RESOURCES", root().join("examples/reports.yaml"))
        .env("TIGERA_COMPLIANCE_REPORT_NAME", "daily-cis-results")
        .env("TIGERA_COMPLIANCE_REPORT_START_TIME", start)
        .env("TIGERA_COMPLIANCE_REPORT_END_TIME", end);
    cmd
}

fn reporter(db: &Path, day: i64) -> Output {
    reporter_command(db, day).output().kept()
}

/// `compliancectl import kube-bench` of a real output for `node`, at 23:00 of `day`.
fn import(db: &Path, file: &str, node: &str, day: i64) -> Output {
    let (start, _) = window(day);
    let at = start.replace("T00:", "T23:");
    Command::new(env!("CARGO_BIN_EXE_compliancectl"))
        .env_clear()
        .env("COMPLIANCE_DATASTORE", format!("sqlite:{}", db.display()))
        .env("COMPLIANCE_BENCHMARK_RETENTION", "forever")
        .env("COMPLIANCE_REPORT_RETENTION", "forever")
        .args(["import", "kube-bench"])
        .arg(fixture(file))
        .args(["--node", node, "--time", &at, "--k8s-version", "1.29.3"])
        .output()
        .kept()
}

/// What a database holds, read with SQL beside the store: each report's id, its
/// `node_count` and the node rows it has, then the number of benchmark documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Holdings {
    pub reports: Vec<(String, i64, i64)>,
    pub documents: i64,
}

/// `PRAGMA integrity_check` must say ok; then what the file holds.
pub(super) fn holdings(db: &Path) -> Holdings {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", db.display());
    let reports = conn
        .prepare(
            "SELECT id, node_count, \
             (SELECT count(*) FROM report_nodes n WHERE n.report_key = r.report_key) \
             FROM reports r ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let documents = conn
        .query_row("SELECT count(*) FROM benchmark_docs", [], |r| r.get(0))
        .unwrap();
    Holdings { reports, documents }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// `None`, after printing SKIPPED, where mounting is not allowed.
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = TempDir::new().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                println!(
                    "SKIPPED {test}: cannot mount a tmpfs: {}",
                    stderr(&o).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIPPED {test}: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Remounts read-only (`true`) or read-write.
    fn set_read_only(&self, read_only: bool) {
        let opt = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let out = Command::new("mount")
            .args(["-o", opt])
            .arg(self.dir.path())
            .output()
            .kept();
        assert!(out.status.success(), "mount -o {opt}: {}", stderr(&out));
    }

    /// Fills the file system with `filler` until a write fails, then gives `headroom`
    /// bytes back (tmpfs frees the pages of a truncated file).
    fn fill(&self, headroom: u64) {
        use std::io::Write;
        let path = self.path("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        let len = std::fs::metadata(&path).unwrap().len();
        f.set_len(len.saturating_sub(headroom)).unwrap();
    }

    fn unfill(&self) {
        std::fs::remove_file(self.path("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Writable again first, so that a test failing while read-only leaves nothing
        // behind; then lazily unmounted, so a file still open cannot keep it mounted.
        let _ = Command::new("mount")
            .args(["-o", "remount,rw"])
            .arg(self.dir.path())
            .output();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Two real nodes' results on `day` and a stored report of that day: the "previous
/// report" every fault must leave alone.
fn seed(db: &Path, day: i64) -> Holdings {
    for (file, node) in [
        ("cis-1.23-master-newrelic.json", "master-1"),
        ("cis-1.20-node-apxd.json", "worker-1"),
    ] {
        let out = import(db, file, node, day);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = reporter(db, day);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let h = holdings(db);
    assert_eq!(h.reports.len(), 1, "{h:?}");
    h
}

/// `after` holds the reports of `before`, unchanged, and one more, complete with its
/// `nodes` node rows.
pub(super) fn assert_one_more(before: &Holdings, after: &Holdings, nodes: i64) {
    let new: Vec<_> = after
        .reports
        .iter()
        .filter(|r| !before.reports.contains(r))
        .collect();
    assert_eq!(after.reports.len(), before.reports.len() + 1, "{after:?}");
    assert_eq!(new.len(), 1, "{after:?}");
    assert_eq!((new[0].1, new[0].2), (nodes, nodes), "{after:?}");
}

/// The refusal every fault must give: exit 1, the database's path and the reason.
fn assert_refused(out: &Output, db: &Path, reason: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains(reason), "{err}");
}

#[test]
fn a_full_disk_fails_the_reporter_and_import_and_keeps_the_previous_reports() {
    let Some(fs) = Tmpfs::mount("512k", "full disk") else {
        return;
    };
    let db = fs.path("compliance.db");
    let before = seed(&db, 0);
    // Entirely full: SQLite cannot even grow the -shm file of the new connection.
    fs.fill(0);
    let out = reporter(&db, 1);
    assert_refused(&out, &db, "the disk is full");
    let out = import(&db, "cis-1.23-master-newrelic.json", "master-1", 1);
    assert_refused(&out, &db, "the disk is full");
    fs.unfill();
    assert_eq!(holdings(&db), before);

    // A little room, growing a page at a time: the run gets past opening and reading,
    // and the disk runs out while the report is written. Every attempt either fails
    // whole or stores the report whole; at least one fails in the write.
    let mut failed_writing = 0;
    let mut stored = false;
    for pages in 0..64u64 {
        fs.fill(pages * 4096);
        let out = reporter(&db, 1);
        fs.unfill();
        let after = holdings(&db);
        if out.status.success() {
            assert_one_more(&before, &after, 2);
            println!("headroom {pages} pages: stored; {failed_writing} runs failed writing");
            stored = true;
            break;
        }
        assert_refused(&out, &db, "the disk is full");
        assert_eq!(after, before, "headroom {pages} pages");
        if stderr(&out).contains("expected nodes taken from the previous report") {
            failed_writing += 1;
        }
    }
    assert!(stored, "the report was never stored");
    assert!(
        failed_writing > 0,
        "no run reached the write before the disk was full"
    );

    // With the space back, an import works again too.
    let out = import(&db, "cis-1.23-master-newrelic.json", "master-1", 1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(holdings(&db).documents, before.documents + 1);
}

#[test]
fn a_read_only_file_or_mount_fails_the_reporter_and_changes_nothing() {
    let Some(fs) = Tmpfs::mount("4m", "read-only database") else {
        return;
    };
    let db = fs.path("compliance.db");
    let before = seed(&db, 0);

    // An immutable file: root may not write it either.
    let chattr = Command::new("chattr").arg("+i").arg(&db).output();
    match chattr {
        Ok(o) if o.status.success() => {
            let out = reporter(&db, 1);
            let undo = Command::new("chattr").arg("-i").arg(&db).output().kept();
            assert!(undo.status.success(), "{}", stderr(&undo));
            assert_refused(&out, &db, "the database is read-only");
            assert_eq!(holdings(&db), before);
        }
        Ok(o) => println!("SKIPPED chattr +i variant: {}", stderr(&o).trim()),
        Err(e) => println!("SKIPPED chattr +i variant: cannot run chattr: {e}"),
    }

    // A read-only mount.
    fs.set_read_only(true);
    let out = reporter(&db, 1);
    let import_out = import(&db, "cis-1.23-master-newrelic.json", "master-1", 1);
    fs.set_read_only(false);
    assert_refused(&out, &db, "the database is read-only");
    assert_refused(&import_out, &db, "read-only");
    assert_eq!(holdings(&db), before);

    let out = reporter(&db, 1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_more(&before, &holdings(&db), 2);
}

/// The store's busy timeout (`compliance_store::sqlite::BUSY_TIMEOUT`).
const BUSY_TIMEOUT: Duration = compliance_store::sqlite::BUSY_TIMEOUT;

#[test]
fn a_lock_held_past_the_busy_timeout_fails_the_reporter_and_a_shorter_one_does_not() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("compliance.db");
    let before = seed(&db, 0);

    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let out = reporter(&db, 1);
    let waited = started.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    assert_refused(&out, &db, "the database is locked");
    assert!(waited >= BUSY_TIMEOUT, "gave up after {waited:?}");
    assert!(waited < BUSY_TIMEOUT * 3, "waited {waited:?}");
    println!("lock held throughout: the reporter gave up after {waited:?}");
    assert_eq!(holdings(&db), before);

    // Released within the timeout: the waiting run goes on and stores its report. It
    // cannot have finished before the release, which is what the elapsed time shows.
    let hold = Duration::from_secs(1);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let child = reporter_command(&db, 1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(hold);
    holder.execute_batch("ROLLBACK").unwrap();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(took >= hold, "{took:?}");
    println!("lock released after {hold:?}: the reporter stored its report after {took:?}");
    assert_one_more(&before, &holdings(&db), 2);
}
