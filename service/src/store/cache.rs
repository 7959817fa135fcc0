//! What one instance keeps in memory between requests: facts that never
//! change once written (currency scales, world account ids, each account's
//! currency), safe to share without invalidation; and, for the optimistic
//! path, the account rows it last committed and the accounts its runs are
//! writing now, which are checked on every use instead.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use entity::{account, webhook_event};

#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) scales: Memo<String, u32>,
    pub(crate) worlds: Memo<String, Uuid>,
    /// Account id → currency, for deposits and withdrawals.
    pub(crate) currencies: Memo<Uuid, String, 200_000>,
    /// Accounts as this instance last committed them: the one cache here
    /// that can go stale, so only the optimistic path reads it, and its
    /// compare-and-swap checks every row it takes from it.
    pub(crate) recent: Recent,
    /// The accounts this instance's runs are writing right now.
    pub(crate) in_flight: InFlight,
    /// `transfer.posted` events this instance committed, with their bodies:
    /// its webhook worker sends them without reading the event, transfer
    /// and entry rows back (a body derived from those rows is the same
    /// bytes; another instance's worker, or a miss, derives it).
    pub(crate) events: Memo<Uuid, Arc<webhook_event::Model>, 50_000>,
}

/// Facts that never change once written, shared by this instance. At most
/// `MAX` are kept: the map starts over when an insert would pass it (a miss
/// only costs a read).
pub(crate) struct Memo<K, V, const MAX: usize = { usize::MAX }>(RwLock<HashMap<K, V>>);

impl<K, V, const MAX: usize> Default for Memo<K, V, MAX> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone, const MAX: usize> Memo<K, V, MAX> {
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.read().ok()?.get(key).cloned()
    }

    pub(crate) fn insert(&self, entries: impl IntoIterator<Item = (K, V)>) {
        let entries: Vec<(K, V)> = entries.into_iter().collect();
        if let Ok(mut map) = self.0.write() {
            if map.len().saturating_add(entries.len()) > MAX {
                map.clear();
            }
            map.extend(entries);
        }
    }
}

/// The most rows [`Recent`] keeps; it starts over past that (a miss only
/// costs an unlocked read).
const MAX_RECENT: usize = 50_000;

/// Accounts as this instance last committed (or read under lock) them. Not
/// a fact but a guess: another instance may have moved any of them since,
/// which the write-back's compare-and-swap detects.
#[derive(Default)]
pub(crate) struct Recent(RwLock<HashMap<Uuid, account::Model>>);

impl Recent {
    pub(crate) fn get(&self, ids: &BTreeSet<Uuid>) -> (Vec<account::Model>, Vec<Uuid>) {
        let (mut found, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        let Ok(map) = self.0.read() else {
            return (found, ids.iter().copied().collect());
        };
        for id in ids {
            match map.get(id) {
                Some(row) => found.push(row.clone()),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Keeps each row unless a newer version of it is already kept (runs on
    /// different lanes may commit one account in one order and report in
    /// the other).
    pub(crate) fn keep(&self, rows: Vec<account::Model>) {
        let Ok(mut map) = self.0.write() else { return };
        if map.len().saturating_add(rows.len()) > MAX_RECENT {
            map.clear();
        }
        for row in rows {
            match map.get(&row.id) {
                Some(kept) if kept.version >= row.version => {}
                _ => {
                    map.insert(row.id, row);
                }
            }
        }
    }

    pub(crate) fn forget(&self, ids: &BTreeSet<Uuid>) {
        if let Ok(mut map) = self.0.write() {
            for id in ids {
                map.remove(id);
            }
        }
    }
}

/// The accounts this instance's runs are writing right now, each with how
/// many runs are writing it. An optimistic run on an account another run is
/// about to change would read a row that is stale by the time it writes, so
/// it takes the locked path instead (and waits its turn on the row lock).
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<Uuid, u32>>);

/// The accounts one run has claimed; released when dropped.
pub(crate) struct Claim<'a> {
    in_flight: &'a InFlight,
    ids: Vec<Uuid>,
}

impl InFlight {
    /// Claims `ids` for a locked run, beside any other run.
    pub(crate) fn claim(&self, ids: impl IntoIterator<Item = Uuid>) -> Claim<'_> {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if let Ok(mut map) = self.0.lock() {
            for id in &ids {
                *map.entry(*id).or_default() += 1;
            }
        }
        Claim { in_flight: self, ids }
    }

    /// Claims `ids` for an optimistic run, only if no other run has any of them.
    pub(crate) fn claim_alone(&self, ids: &BTreeSet<Uuid>) -> Option<Claim<'_>> {
        let mut map = self.0.lock().ok()?;
        if ids.iter().any(|id| map.contains_key(id)) {
            return None;
        }
        for id in ids {
            map.insert(*id, 1);
        }
        Some(Claim {
            in_flight: self,
            ids: ids.iter().copied().collect(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let Ok(mut map) = self.in_flight.0.lock() else { return };
        for id in &self.ids {
            if let Some(n) = map.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    map.remove(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Memo;

    #[test]
    fn a_memo_starts_over_when_an_insert_would_pass_its_bound() {
        let memo: Memo<u32, &str, 3> = Memo::default();
        memo.insert([(1, "a"), (2, "b")]);
        assert_eq!(memo.get(&1), Some("a"));
        memo.insert([(3, "c")]);
        assert_eq!((memo.get(&1), memo.get(&3)), (Some("a"), Some("c")));
        memo.insert([(4, "d")]);
        assert_eq!((memo.get(&1), memo.get(&4)), (None, Some("d")));
    }
}
