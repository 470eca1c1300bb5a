//! The waiting room: how many requests may wait in the relay at once (for a quota slot, a
//! retry or the upstream's first byte), shared fairly between relay keys.
//!
//! Waiting beats refusing (the official SDKs retry nothing by default), but each waiting
//! request holds memory and a connection, so the room is bounded. Within the bound
//! (`max_waiting`) anyone comes in. Beyond it, a relay key still comes in while it holds fewer
//! than its fair share: the bound divided by the number of keys waiting now, itself included.
//! So a key that fills the room alone cannot keep a second key out: the second is let in up to
//! its share while the first is refused until it is back under its own. The room never holds
//! more than twice the bound. A request refused here gets a 429 at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The waiting room.
#[derive(Debug)]
pub(crate) struct Room {
    max: usize,
    inside: Mutex<Inside>,
}

#[derive(Debug, Default)]
struct Inside {
    total: usize,
    by_key: HashMap<Arc<str>, usize>,
}

/// A place in the room, given back when dropped (the answer started, or the client left).
#[derive(Debug)]
pub(crate) struct Seat {
    room: Arc<Room>,
    key: Arc<str>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut inside = self.room.lock();
        inside.total = inside.total.saturating_sub(1);
        if let Some(n) = inside.by_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                inside.by_key.remove(&self.key);
            }
        }
    }
}

impl Room {
    pub(crate) fn new(max: usize) -> Arc<Room> {
        Arc::new(Room {
            max: max.max(1),
            inside: Mutex::new(Inside::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inside> {
        self.inside
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A seat for a request of relay key `key`, or `None` when the room is full for it.
    pub(crate) fn enter(self: &Arc<Self>, key: &str) -> Option<Seat> {
        let mut inside = self.lock();
        let mine = inside.by_key.get(key).copied().unwrap_or(0);
        let keys = inside.by_key.len() + usize::from(mine == 0);
        let share = (self.max / keys).max(1);
        let admitted = inside.total < self.max || (mine < share && inside.total < 2 * self.max);
        if !admitted {
            return None;
        }
        inside.total += 1;
        let key: Arc<str> = match inside.by_key.get_key_value(key) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(key),
        };
        *inside.by_key.entry(Arc::clone(&key)).or_insert(0) += 1;
        Some(Seat {
            room: Arc::clone(self),
            key,
        })
    }

    /// Requests waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_fills_the_room_cannot_keep_another_out() {
        let room = Room::new(10);
        let busy: Vec<Seat> = (0..10).filter_map(|_| room.enter("busy")).collect();
        assert_eq!(busy.len(), 10);
        assert!(room.enter("busy").is_none(), "the room is full for it");
        // The second key gets its share (half of the room) though the room is full.
        let quiet: Vec<Seat> = (0..10).filter_map(|_| room.enter("quiet")).collect();
        assert_eq!(quiet.len(), 5);
        assert_eq!(room.waiting(), 15);
        // As the busy key's requests finish, it is refused until it is under its share.
        drop(busy);
        let again: Vec<Seat> = (0..10).filter_map(|_| room.enter("busy")).collect();
        assert_eq!(again.len(), 5, "up to the bound of 10");
        drop((again, quiet));
        assert_eq!(room.waiting(), 0);
    }

    #[test]
    fn the_room_never_holds_more_than_twice_its_bound() {
        let room = Room::new(4);
        let seats: Vec<Seat> = (0..100)
            .filter_map(|i| room.enter(&format!("key-{i}")))
            .collect();
        assert!(seats.len() <= 8, "{}", seats.len());
    }
}
