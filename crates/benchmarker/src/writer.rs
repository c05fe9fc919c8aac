//! Storing documents in the background, so a store that is down never delays a run.
//!
//! Runs hand their documents to [`Writer::submit`], which only queues them. A thread of
//! its own writes the queue to the store, all pending documents in one call. When that
//! fails, the documents go back to the front of the queue and the thread waits with
//! jittered exponential backoff ([`WriterSettings::min_delay`] doubling up to
//! [`WriterSettings::max_delay`]) before trying again, for as long as it takes: when
//! Elasticsearch comes back after hours, everything still queued is stored.
//!
//! Memory stays bounded: the queue holds at most [`WriterSettings::capacity`] documents
//! besides the batch being written (so at most twice that in all, briefly), dropping the
//! oldest first (each with a warning); a failed batch goes back into the same bound, since the reporter only ever uses a
//! node's latest document of a window. With the daily dedupe, an hourly benchmarker whose
//! results do not change queues one document a day, so the default of 48 lasts weeks.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

use compliance_core::error::{Classify, ErrorKind, chain as error_chain};
use compliance_core::model::BenchmarkDocument;
use compliance_store::{BenchmarkStore, StoreError};

/// Opens the store; called again after every failure, so a store that was unreachable
/// at start (or whose file was replaced) is picked up when it returns.
pub type OpenStore = Box<dyn FnMut() -> Result<Box<dyn BenchmarkStore>, StoreError> + Send>;

/// Default [`WriterSettings::capacity`]: two days of hourly runs whose results all differ.
pub const DEFAULT_CAPACITY: usize = 48;

/// How the writer queues and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    /// Documents kept while the store is down; the oldest is dropped beyond this.
    pub capacity: usize,
    /// The first wait after a failure (default 1s).
    pub min_delay: Duration,
    /// The longest wait between attempts (default 5 minutes): a store that is back is
    /// used within this long.
    pub max_delay: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            capacity: DEFAULT_CAPACITY,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Documents stored.
    pub stored: u64,
    /// Documents dropped because the queue was full.
    pub dropped: u64,
    /// Store calls that failed.
    pub failures: u64,
    /// Documents waiting now.
    pub pending: usize,
}

/// Adds `item` at the back of `queue`, dropping from the front to keep at most
/// `capacity` items; returns what was dropped, oldest first.
pub fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, capacity: usize) -> Vec<T> {
    queue.push_back(item);
    trim_front(queue, capacity)
}

fn trim_front<T>(queue: &mut VecDeque<T>, capacity: usize) -> Vec<T> {
    let excess = queue.len().saturating_sub(capacity.max(1));
    queue.drain(..excess).collect()
}

struct State {
    pending: VecDeque<BenchmarkDocument>,
    /// Documents taken out of `pending` for the store call in progress.
    in_flight: usize,
    stopping: bool,
    stats: WriterStats,
}

impl State {
    fn count_pending(&mut self) {
        self.stats.pending = self.pending.len() + self.in_flight;
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-changed in a way
        // that matters (every change is a single push or drain), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads a [`Writer`]'s stats without owning it.
#[derive(Clone)]
pub struct WriterWatch(Arc<Shared>);

impl WriterWatch {
    pub fn stats(&self) -> WriterStats {
        self.0.lock().stats
    }
}

impl std::fmt::Debug for WriterWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WriterWatch").field(&self.stats()).finish()
    }
}

/// The background writer; see the module documentation.
pub struct Writer {
    shared: Arc<Shared>,
    settings: WriterSettings,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread. Nothing is opened until the first document arrives.
    pub fn start(open: OpenStore, settings: WriterSettings) -> std::io::Result<Writer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                in_flight: 0,
                stopping: false,
                stats: WriterStats::default(),
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || write_loop(&shared, open, settings))?
        };
        Ok(Writer {
            shared,
            settings,
            thread: Some(thread),
        })
    }

    /// Queues `doc` for storing; never blocks on the store.
    pub fn submit(&self, doc: BenchmarkDocument) {
        let mut state = self.shared.lock();
        for old in push_bounded(&mut state.pending, doc, self.settings.capacity) {
            state.stats.dropped += 1;
            tracing::warn!(
                node = %old.node_name,
                timestamp = %compliance_core::time::format(&old.timestamp),
                capacity = self.settings.capacity,
                "the store has been failing for long enough that the queue is full; \
                 dropped the oldest unstored document"
            );
        }
        state.count_pending();
        drop(state);
        self.shared.wake.notify_all();
    }

    pub fn stats(&self) -> WriterStats {
        self.shared.lock().stats
    }

    /// A handle that reads the stats from anywhere (the `/metrics` scrape), also after
    /// the writer has finished.
    pub fn watch(&self) -> WriterWatch {
        WriterWatch(Arc::clone(&self.shared))
    }

    /// Stops the writer: whatever is still queued gets one last attempt (even during a
    /// backoff wait), then the thread ends. Returns the final stats; `pending` counts the
    /// documents that were not stored.
    pub fn finish(mut self) -> WriterStats {
        self.stop_and_join();
        self.stats()
    }

    fn stop_and_join(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn new_backoff(settings: &WriterSettings) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(settings.min_delay)
        .with_max_delay(settings.max_delay)
        .with_jitter()
        .without_max_times()
        .build()
}

fn write_loop(shared: &Shared, mut open: OpenStore, settings: WriterSettings) {
    let mut store: Option<Box<dyn BenchmarkStore>> = None;
    let mut backoff = new_backoff(&settings);
    let mut retry_at: Option<Instant> = None;
    loop {
        let (batch, stopping) = {
            let mut state = shared.lock();
            loop {
                if state.pending.is_empty() {
                    if state.stopping {
                        return;
                    }
                    state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                if state.stopping {
                    break;
                }
                match retry_at {
                    Some(at) if Instant::now() < at => {
                        let wait = at.saturating_duration_since(Instant::now());
                        state = shared
                            .wake
                            .wait_timeout(state, wait)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    _ => break,
                }
            }
            let batch: Vec<BenchmarkDocument> = state.pending.drain(..).collect();
            state.in_flight = batch.len();
            (batch, state.stopping)
        };

        match put(&mut store, &mut open, &batch) {
            Ok(stored) => {
                let mut state = shared.lock();
                state.stats.stored += stored;
                state.in_flight = 0;
                state.count_pending();
                drop(state);
                if retry_at.is_some() {
                    tracing::info!(documents = stored, "the store is back; stored the queue");
                } else {
                    tracing::debug!(documents = stored, "stored");
                }
                retry_at = None;
                backoff = new_backoff(&settings);
            }
            Err(e) => {
                // Reopened on the next attempt: the connection or file may be what broke.
                store = None;
                let mut state = shared.lock();
                state.stats.failures += 1;
                state.in_flight = 0;
                // Back in front of anything queued meanwhile, so order stays by time.
                let newer = std::mem::take(&mut state.pending);
                state.pending = batch.into_iter().chain(newer).collect();
                let dropped = trim_front(&mut state.pending, settings.capacity);
                state.stats.dropped += dropped.len() as u64;
                state.count_pending();
                let pending = state.pending.len();
                drop(state);
                if !dropped.is_empty() {
                    tracing::warn!(
                        dropped = dropped.len(),
                        capacity = settings.capacity,
                        "the queue is full; dropped the oldest unstored documents"
                    );
                }
                let error = error_chain(&e);
                if stopping {
                    tracing::error!(
                        %error,
                        lost = pending,
                        "storing failed while shutting down; these results were not stored"
                    );
                    let mut state = shared.lock();
                    state.pending.clear();
                    return;
                }
                let delay = backoff.next().unwrap_or(settings.max_delay);
                retry_at = Some(Instant::now() + delay);
                let retry_in =
                    humantime::format_duration(Duration::from_secs(delay.as_secs().max(1)));
                if e.kind() == ErrorKind::Configuration {
                    tracing::error!(%error, pending, retry_in = %retry_in, "storing failed (check the store's settings)");
                } else {
                    tracing::warn!(%error, pending, retry_in = %retry_in, "storing failed; will retry");
                }
            }
        }
    }
}

fn put(
    store: &mut Option<Box<dyn BenchmarkStore>>,
    open: &mut OpenStore,
    batch: &[BenchmarkDocument],
) -> Result<u64, StoreError> {
    let store = match store {
        Some(s) => s,
        None => store.insert(open()?),
    };
    // Cloned, not moved: on failure the batch goes back to the queue. The test texts are
    // shared (`Arc`), so a clone copies little more than the statuses.
    let mut docs = batch.iter().cloned().map(Ok);
    store.put_benchmarks(&mut docs)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::{TimeZone, Utc};

    use super::*;
    use compliance_store::{InputError, QueryStats, QueryWindow};
    use compliance_testkit::fixtures::wait_until;

    #[test]
    fn push_bounded_drops_the_oldest() {
        let mut q = VecDeque::new();
        assert!(push_bounded(&mut q, 1, 3).is_empty());
        push_bounded(&mut q, 2, 3);
        push_bounded(&mut q, 3, 3);
        assert_eq!(push_bounded(&mut q, 4, 3), vec![1]);
        assert_eq!(q, [2, 3, 4]);
        // A capacity of 0 would lose every document: at least one is kept.
        let mut q = VecDeque::new();
        push_bounded(&mut q, 1, 0);
        assert_eq!(q, [1]);
    }

    /// A store that fails its first `fail` calls, then keeps what it is given.
    struct Flaky {
        calls: Arc<AtomicU32>,
        fail: u32,
        kept: Arc<Mutex<Vec<BenchmarkDocument>>>,
    }

    impl BenchmarkStore for Flaky {
        fn put_benchmarks(
            &mut self,
            docs: &mut dyn Iterator<Item = Result<BenchmarkDocument, InputError>>,
        ) -> Result<u64, StoreError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.fail {
                return Err(StoreError::Missing {
                    path: "/down".into(),
                });
            }
            let mut kept = self.kept.lock().unwrap();
            let mut n = 0;
            for d in docs {
                kept.push(d.unwrap());
                n += 1;
            }
            Ok(n)
        }

        fn latest_per_node(
            &self,
            _: &QueryWindow,
            _: &mut dyn FnMut(BenchmarkDocument),
        ) -> Result<QueryStats, StoreError> {
            unreachable!()
        }
    }

    fn doc(hour: u32) -> BenchmarkDocument {
        BenchmarkDocument {
            version: "cis-1.9".into(),
            kubernetes_version: "1.29.3".into(),
            kind: "kube".into(),
            node_name: "node-1".into(),
            timestamp: Utc.with_ymd_and_hms(2026, 11, 26, hour, 0, 0).unwrap(),
            error: String::new(),
            tests: Vec::new(),
            cluster: "cluster".into(),
            platform: String::new(),
            kube_bench_version: String::new(),
            benchmarker_version: String::new(),
            benchmark_choice: String::new(),
        }
    }

    fn flaky(
        fail: u32,
    ) -> (
        OpenStore,
        Arc<AtomicU32>,
        Arc<Mutex<Vec<BenchmarkDocument>>>,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (c, k) = (Arc::clone(&calls), Arc::clone(&kept));
        let open: OpenStore = Box::new(move || {
            Ok(Box::new(Flaky {
                calls: Arc::clone(&c),
                fail,
                kept: Arc::clone(&k),
            }) as Box<dyn BenchmarkStore>)
        });
        (open, calls, kept)
    }

    const FAST: WriterSettings = WriterSettings {
        capacity: 5,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    };

    fn wait_for(what: &str, done: impl FnMut() -> bool) {
        wait_until(what, Duration::from_secs(10), done);
    }

    #[test]
    fn documents_queued_while_the_store_is_down_are_stored_when_it_returns() {
        let (open, calls, kept) = flaky(6);
        let writer = Writer::start(open, FAST).unwrap();
        let watch = writer.watch();
        writer.submit(doc(0));
        wait_for("a few failures", || calls.load(Ordering::SeqCst) >= 3);
        writer.submit(doc(1));
        writer.submit(doc(2));
        wait_for("all stored", || kept.lock().unwrap().len() == 3);
        let stats = writer.finish();
        assert_eq!(stats.stored, 3);
        assert_eq!(stats.failures, 6);
        assert_eq!(stats.pending, 0);
        assert_eq!(watch.stats(), stats);
        let hours: Vec<_> = kept.lock().unwrap().iter().map(|d| d.timestamp).collect();
        assert_eq!(hours, [doc(0), doc(1), doc(2)].map(|d| d.timestamp));
    }

    #[test]
    fn a_long_outage_keeps_only_the_newest_documents() {
        let (open, calls, kept) = flaky(u32::MAX);
        let writer = Writer::start(open, FAST).unwrap();
        for hour in 0..20 {
            writer.submit(doc(hour));
        }
        // Two more attempts after the last submit: one whole failure has been handled since.
        let seen = calls.load(Ordering::SeqCst);
        wait_for("two failures", || calls.load(Ordering::SeqCst) >= seen + 2);
        let stats = writer.stats();
        assert!(stats.pending <= FAST.capacity, "{stats:?}");
        assert_eq!(stats.dropped + stats.pending as u64, 20);
        // The queue is full and stays so: what a watch (the /metrics scrape) reads.
        assert_eq!(writer.watch().stats().pending, FAST.capacity);
        drop(writer);
        assert!(kept.lock().unwrap().is_empty());
    }

    #[test]
    fn finishing_makes_one_last_attempt_without_waiting_for_the_backoff() {
        let (open, calls, kept) = flaky(1);
        let slow = WriterSettings {
            min_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            ..FAST
        };
        let writer = Writer::start(open, slow).unwrap();
        writer.submit(doc(0));
        wait_for("the failure", || calls.load(Ordering::SeqCst) == 1);
        let started = Instant::now();
        let stats = writer.finish();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(stats.stored, 1);
        assert_eq!(kept.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_failed_last_attempt_reports_what_was_lost() {
        let (open, _, _) = flaky(u32::MAX);
        let writer = Writer::start(open, FAST).unwrap();
        writer.submit(doc(0));
        writer.submit(doc(1));
        let stats = writer.finish();
        assert_eq!(stats.stored, 0);
        assert_eq!(stats.pending, 2);
    }

    #[test]
    fn a_store_that_cannot_be_opened_is_retried() {
        let opens = Arc::new(AtomicU32::new(0));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (o, k) = (Arc::clone(&opens), Arc::clone(&kept));
        let open: OpenStore = Box::new(move || {
            if o.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(StoreError::Missing {
                    path: "/not-yet".into(),
                });
            }
            Ok(Box::new(Flaky {
                calls: Arc::new(AtomicU32::new(0)),
                fail: 0,
                kept: Arc::clone(&k),
            }) as Box<dyn BenchmarkStore>)
        });
        let writer = Writer::start(open, FAST).unwrap();
        writer.submit(doc(0));
        wait_for("stored", || kept.lock().unwrap().len() == 1);
        assert_eq!(opens.load(Ordering::SeqCst), 3);
        drop(writer);
    }
}
