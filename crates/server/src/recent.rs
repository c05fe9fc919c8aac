//! The most recently used entries of a cache, one per (cluster, name), each for one
//! version of what it was built from.
//!
//! The report indexes and the GlobalReports' lifecycles are cached the same way: an entry
//! is found by (cluster, name, stamp), where the stamp says which version of the data it
//! was built from (a report's generation time, the ids of a GlobalReport's reports). A
//! request for a new stamp replaces the entry of an older one, since that can no longer
//! be asked for, and the least recently used entries go when there are too many.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// An entry's key: cluster, name and stamp.
type Key<S> = (String, String, S);

/// At most `capacity` entries, the most recently used first.
#[derive(Debug)]
pub struct Recent<S, E> {
    capacity: usize,
    entries: Mutex<VecDeque<(Key<S>, Arc<E>)>>,
}

impl<S: PartialEq, E: Default> Recent<S, E> {
    pub fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The entry of `name` in `cluster` built from `stamp`: the cached one, moved to the
    /// front, or a new empty one that replaces any of another stamp.
    pub fn entry(&self, cluster: &str, name: &str, stamp: S) -> Arc<E> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = entries
            .iter()
            .position(|((c, n, s), _)| c == cluster && n == name && *s == stamp)
        {
            let found = entries.remove(i).expect("position is in range");
            let entry = found.1.clone();
            entries.push_front(found);
            return entry;
        }
        entries.retain(|((c, n, _), _)| !(c == cluster && n == name));
        let entry = Arc::new(E::default());
        entries.push_front((
            (cluster.to_string(), name.to_string(), stamp),
            entry.clone(),
        ));
        entries.truncate(self.capacity);
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stamp_replaces_the_old_entry_of_the_same_name() {
        let r: Recent<u32, Mutex<u32>> = Recent::new(4);
        *r.entry("c", "a", 1).lock().unwrap() = 7;
        assert_eq!(*r.entry("c", "a", 1).lock().unwrap(), 7);
        assert_eq!(*r.entry("c", "a", 2).lock().unwrap(), 0);
        // The old stamp's entry is gone, not kept beside the new one.
        assert_eq!(*r.entry("c", "a", 1).lock().unwrap(), 0);
        // Another cluster's entry of the same name is its own.
        assert_eq!(*r.entry("d", "a", 1).lock().unwrap(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let r: Recent<u32, Mutex<u32>> = Recent::new(2);
        *r.entry("c", "a", 1).lock().unwrap() = 1;
        *r.entry("c", "b", 1).lock().unwrap() = 2;
        r.entry("c", "a", 1); // a is used again: b is now the oldest
        r.entry("c", "x", 1);
        assert_eq!(*r.entry("c", "a", 1).lock().unwrap(), 1);
        assert_eq!(*r.entry("c", "b", 1).lock().unwrap(), 0);
    }
}
