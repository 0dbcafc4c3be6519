//! [`ByteBudget`]: bytes held against a limit, for the memory bounds of `ServerConfig`
//! (`max_pending_bytes` per connection, `max_partial_frame_bytes` per server).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held against a limit by whoever takes them. Holders give back exactly what they took.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    held: AtomicUsize,
    limit: usize,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(ByteBudget {
            held: AtomicUsize::new(0),
            limit,
        })
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `bytes`, or returns what was held already when that would pass the limit (and
    /// takes nothing).
    pub(crate) fn take(&self, bytes: usize) -> Result<(), usize> {
        let before = self.held.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.limit {
            self.held.fetch_sub(bytes, Ordering::AcqRel);
            return Err(before);
        }
        Ok(())
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gives_back() {
        let budget = ByteBudget::new(10);
        assert_eq!(budget.take(6), Ok(()));
        assert_eq!(budget.take(4), Ok(()), "exactly the limit");
        assert_eq!(budget.take(1), Err(10), "past it: nothing taken");
        assert_eq!(budget.held(), 10);
        budget.give_back(6);
        assert_eq!(budget.take(5), Ok(()));
        budget.give_back(9);
        assert_eq!(budget.held(), 0);
    }
}
