//! How many websockets this instance holds, in all and per caller. A slot
//! is held for as long as its connection lives and given back on drop, so
//! the counts cannot drift whatever way a connection ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Principal;

#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<Counts>>);

#[derive(Default)]
struct Counts {
    total: usize,
    per_caller: HashMap<Principal, usize>,
}

/// One connection's place in the counts.
pub struct Slot {
    registry: Registry,
    caller: Option<Principal>,
}

impl Registry {
    /// A slot for a new connection, unless `max` are open already.
    pub fn open(&self, max: usize) -> Option<Slot> {
        let mut counts = self.0.lock().ok()?;
        if counts.total >= max {
            return None;
        }
        counts.total += 1;
        Some(Slot {
            registry: self.clone(),
            caller: None,
        })
    }

    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.0.lock().map(|c| c.total).unwrap_or(0)
    }
}

impl Slot {
    /// Counts this connection as `caller`'s, unless the caller has `max`
    /// already. `Open` (no credential configured: the loopback default) is
    /// one shared caller and is counted only against the instance's total.
    pub fn claim(&mut self, caller: &Principal, max: usize) -> bool {
        if *caller == Principal::Open {
            return true;
        }
        let Ok(mut counts) = self.registry.0.lock() else {
            return false;
        };
        let held = counts.per_caller.get(caller).copied().unwrap_or(0);
        if held >= max {
            return false;
        }
        counts.per_caller.insert(caller.clone(), held + 1);
        self.caller = Some(caller.clone());
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut counts) = self.registry.0.lock() else { return };
        counts.total = counts.total.saturating_sub(1);
        if let Some(caller) = self.caller.take()
            && let Some(n) = counts.per_caller.get_mut(&caller)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_caller.remove(&caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_instance_and_per_caller_and_come_back_on_drop() {
        let registry = Registry::default();
        let alice = Principal::User {
            subject: "alice".into(),
        };
        let mut a = registry.open(2).unwrap();
        let mut b = registry.open(2).unwrap();
        assert!(registry.open(2).is_none());
        assert!(a.claim(&alice, 1));
        assert!(!b.claim(&alice, 1));
        drop(a);
        assert!(b.claim(&alice, 1));
        assert_eq!(registry.total(), 1);
        drop(b);
        assert_eq!(registry.total(), 0);
        assert!(registry.0.lock().unwrap().per_caller.is_empty());
    }
}
