//! The API server's answers, kept briefly: every page view asks the same few questions
//! (one TokenReview, a `list`, a `get` per GlobalReport), and asking them all again for
//! each request would put the API server on the page's critical path many times over.
//!
//! [`TtlCache`] is the pure part: entries with an expiry and a bound, with the time
//! passed in, so expiry is tested without waiting. [`Answers`] puts it behind a lock and
//! makes concurrent identical questions share one request: a page that asks about the
//! same GlobalReport from several tasks, or many readers arriving together after a
//! restart, cost the API server one review each. Failures are never kept: the next
//! request asks again.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use super::k8s::AuthSettings;

/// Entries that expire, at most `max_entries` of them; the oldest go first when full.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    max_entries: usize,
    entries: HashMap<K, Entry<V>>,
    /// Insertion order: sequence number → key.
    order: BTreeMap<u64, K>,
    next: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// `None`: a time-to-live too long to add to an `Instant`, so never.
    expires: Option<Instant>,
    seq: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(max_entries: usize) -> Self {
        TtlCache {
            max_entries,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// The value kept for `key`, unless it expired by `now` (then it is dropped).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        let entry = self.entries.get(key)?;
        if entry.expires.is_none_or(|at| now < at) {
            return Some(entry.value.clone());
        }
        self.remove(key);
        None
    }

    /// Keeps `value` for `ttl` from `now`, replacing any value for `key`, and dropping
    /// the oldest entries to stay within the bound. A zero `ttl` or bound keeps nothing.
    pub fn insert(&mut self, key: K, value: V, ttl: Duration, now: Instant) {
        self.remove(&key);
        if ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        while self.entries.len() >= self.max_entries {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                expires: now.checked_add(ttl),
                seq,
            },
        );
    }

    fn remove(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.seq);
        }
    }

    /// Entries held, expired or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether an answer grants something, which decides how long it is kept.
pub trait Verdict {
    fn allows(&self) -> bool;
}

impl Verdict for bool {
    fn allows(&self) -> bool {
        *self
    }
}

/// A question being asked: its answer, or why it could not be had.
type Pending<V> = Shared<BoxFuture<'static, Result<V, String>>>;

/// Where time comes from: the clock in the server, a hand-moved one in tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Answers shared between requests: kept for `allowed_ttl` when they allow, `denied_ttl`
/// when they do not; questions in flight shared by everyone asking the same.
pub struct Answers<K, V> {
    allowed_ttl: Duration,
    denied_ttl: Duration,
    clock: Clock,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    cache: TtlCache<K, V>,
    pending: HashMap<K, Pending<V>>,
}

impl<K, V> Answers<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Verdict + Clone + Send + Sync + 'static,
{
    pub fn new(settings: &AuthSettings, clock: Clock) -> Self {
        Answers {
            allowed_ttl: settings.allowed_ttl,
            denied_ttl: settings.denied_ttl,
            clock,
            state: Mutex::new(State {
                cache: TtlCache::new(settings.max_entries),
                pending: HashMap::new(),
            }),
        }
    }

    /// The answer to `key`: a kept one, the one being asked for already, or a new one
    /// from `ask` (called only then). The question runs as a task of its own, so it ends
    /// and is kept even when every request waiting for it goes away.
    pub async fn get<F>(self: &Arc<Self>, key: K, ask: F) -> Result<V, String>
    where
        F: FnOnce() -> BoxFuture<'static, Result<V, String>>,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("no runtime to ask the API server on: {e}"))?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let (pending, ending) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(value) = state.cache.get(&key, (self.clock)()) {
                return Ok(value);
            }
            match state.pending.get(&key) {
                Some(pending) => (pending.clone(), None),
                None => {
                    let pending: Pending<V> = async move {
                        answered
                            .await
                            .unwrap_or_else(|_| Err("a review ended without an answer".to_string()))
                    }
                    .boxed()
                    .shared();
                    state.pending.insert(key.clone(), pending.clone());
                    // Whatever happens to the question from here on, even a panic,
                    // `ending` ends its pending state when dropped.
                    let ending = Ending {
                        answers: Arc::clone(self),
                        key: Some(key),
                    };
                    (pending, Some(ending))
                }
            }
        };
        if let Some(mut ending) = ending {
            // Asked without the lock, so that nothing dropped here can deadlock on it.
            let question = ask();
            runtime.spawn(async move {
                let result = question.await;
                ending.settle(&result);
                let _ = answer.send(result);
            });
        }
        pending.await
    }

    /// Ends a question: no longer pending, and its answer kept (failures are not).
    fn settle(&self, key: K, answer: Option<&Result<V, String>>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending.remove(&key);
        if let Some(Ok(value)) = answer {
            let ttl = if value.allows() {
                self.allowed_ttl
            } else {
                self.denied_ttl
            };
            state.cache.insert(key, value.clone(), ttl, (self.clock)());
        }
    }
}

/// Ends a question's pending state however its task ends: with an answer, or dropped
/// unanswered (a panic, a runtime shutting down), so that no later request waits on a
/// question nobody is asking any more.
struct Ending<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Verdict + Clone + Send + Sync + 'static,
{
    answers: Arc<Answers<K, V>>,
    /// `None` once settled.
    key: Option<K>,
}

impl<K, V> Ending<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Verdict + Clone + Send + Sync + 'static,
{
    fn settle(&mut self, answer: &Result<V, String>) {
        if let Some(key) = self.key.take() {
            self.answers.settle(key, Some(answer));
        }
    }
}

impl<K, V> Drop for Ending<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Verdict + Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.answers.settle(key, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_entry_lives_exactly_its_time_to_live() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(10);
        c.insert("k", 1, 10 * S, t0);
        assert_eq!(c.get(&"k", t0), Some(1));
        assert_eq!(c.get(&"k", t0 + 10 * S - Duration::from_nanos(1)), Some(1));
        assert_eq!(c.get(&"k", t0 + 10 * S), None);
        assert!(c.is_empty(), "an expired entry is dropped when read");
    }

    #[test]
    fn a_new_value_replaces_the_old_and_its_expiry() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(10);
        c.insert("k", 1, S, t0);
        c.insert("k", 2, 5 * S, t0 + S / 2);
        assert_eq!(c.get(&"k", t0 + 2 * S), Some(2));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_oldest_entries_go_first_when_full() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(2);
        c.insert("a", 1, S, t0);
        c.insert("b", 2, S, t0);
        c.insert("a", 3, S, t0); // "a" is now the newer one
        c.insert("c", 4, S, t0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"b", t0), None);
        assert_eq!(c.get(&"a", t0), Some(3));
        assert_eq!(c.get(&"c", t0), Some(4));
    }

    #[test]
    fn nothing_is_kept_without_time_or_room() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(2);
        c.insert("a", 1, Duration::ZERO, t0);
        assert_eq!(c.get(&"a", t0), None);
        let mut none = TtlCache::new(0);
        none.insert("a", 1, S, t0);
        assert!(none.is_empty());
    }

    #[test]
    fn an_endless_time_to_live_keeps_the_entry() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(1);
        c.insert("a", 1, Duration::MAX, t0);
        assert_eq!(c.get(&"a", t0 + 1000 * S), Some(1));
    }

    /// A clock moved by hand.
    fn clock() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = Arc::clone(&now);
        (Arc::new(move || *read.lock().unwrap()), now)
    }

    fn answers(clock: Clock) -> Arc<Answers<&'static str, bool>> {
        let settings = AuthSettings {
            allowed_ttl: 10 * S,
            denied_ttl: 5 * S,
            max_entries: 100,
        };
        Arc::new(Answers::new(&settings, clock))
    }

    /// An `ask` that counts its calls and answers `answer`.
    fn counted(
        calls: &Arc<AtomicUsize>,
        answer: Result<bool, String>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<bool, String>> {
        let calls = Arc::clone(calls);
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { answer }.boxed()
        }
    }

    #[tokio::test]
    async fn allowed_answers_are_reused_for_the_allowed_time_to_live() {
        let (clock, now) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(a.get("q", counted(&calls, Ok(true))).await, Ok(true));
        *now.lock().unwrap() += 9 * S;
        assert_eq!(a.get("q", counted(&calls, Ok(false))).await, Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        *now.lock().unwrap() += S;
        assert_eq!(a.get("q", counted(&calls, Ok(false))).await, Ok(false));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn denied_answers_are_reused_for_the_denied_time_to_live() {
        let (clock, now) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(a.get("q", counted(&calls, Ok(false))).await, Ok(false));
        *now.lock().unwrap() += 4 * S;
        assert_eq!(a.get("q", counted(&calls, Ok(true))).await, Ok(false));
        *now.lock().unwrap() += S;
        assert_eq!(a.get("q", counted(&calls, Ok(true))).await, Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let (clock, _) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let down = Err("connection refused".to_string());
        assert_eq!(a.get("q", counted(&calls, down.clone())).await, down);
        assert_eq!(a.get("q", counted(&calls, Ok(true))).await, Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn different_questions_get_their_own_answers() {
        let (clock, _) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(a.get("p", counted(&calls, Ok(true))).await, Ok(true));
        assert_eq!(a.get("q", counted(&calls, Ok(false))).await, Ok(false));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_identical_questions_share_one_request() {
        let (clock, _) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let calls = Arc::clone(&calls);
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    released.await.ok();
                    Ok(true)
                }
                .boxed()
            }
        };
        let (one, two, ()) = tokio::join!(
            a.get("q", first),
            a.get("q", counted(&calls, Ok(false))),
            async {
                release.send(()).unwrap();
            }
        );
        assert_eq!((one, two), (Ok(true), Ok(true)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_question_that_panics_fails_and_is_asked_again() {
        let (clock, _) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let panics = || async { panic!("a bug in a review") }.boxed();
        assert!(a.get("q", panics).await.is_err());
        assert_eq!(a.get("q", counted(&calls, Ok(true))).await, Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_question_whose_askers_went_away_still_ends_and_is_kept() {
        let (clock, _) = clock();
        let a = answers(clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (started, on_start) = tokio::sync::oneshot::channel::<()>();
        let slow = move || {
            async move {
                started.send(()).ok();
                released.await.ok();
                Ok(true)
            }
            .boxed()
        };
        // Ask, then give up before the answer comes.
        {
            let abandoned = a.get("q", slow);
            tokio::select! {
                _ = abandoned => unreachable!("answered before being released"),
                _ = on_start => {}
            }
        }
        release.send(()).unwrap();
        // The waiting request shares the abandoned question, which still ends.
        assert_eq!(a.get("q", counted(&calls, Ok(false))).await, Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
