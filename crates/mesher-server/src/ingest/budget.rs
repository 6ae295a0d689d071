//! The node-wide budget of ingest body bytes in memory (issue 11, finding 1).
//!
//! Per-request limits alone do not bound memory: 32 bombs that each inflate to just under
//! `max_envelope_bytes` hold 3 GiB between them. Every ingest request therefore reserves, from
//! one shared budget (`max_inflight_body_bytes`), the bytes it is about to hold — the body as
//! read, then the decompressed output as it grows — and gives them back when it is done. A
//! request that cannot reserve what it needs is refused at once with 503 and `Retry-After`
//! instead of waiting: waiting would let attackers park requests that hold their connection
//! and their compressed body, and an SDK retries a 503 anyway.
//!
//! The budget is a semaphore of 64 KiB units, so that reserving stays cheap for the typical
//! 5–20 KB event (one unit) and the bookkeeping never allocates.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes per unit of the budget.
const UNIT: usize = 64 * 1024;

/// The shared budget.
#[derive(Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: usize,
}

/// The budget could not cover a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole units; at least one).
    pub fn new(bytes: usize) -> BodyBudget {
        let total_units = bytes.div_ceil(UNIT).max(1);
        BodyBudget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// An empty reservation against this budget.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            units: self.units.clone(),
            held: None,
        }
    }

    /// Bytes currently reserved by all requests (for metrics and tests).
    pub fn in_use(&self) -> usize {
        (self.total_units - self.units.available_permits()) * UNIT
    }
}

/// What one request holds of the budget; given back when dropped.
pub struct Reservation {
    units: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    fn held_units(&self) -> usize {
        self.held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Bytes this reservation holds.
    pub fn bytes(&self) -> usize {
        self.held_units() * UNIT
    }

    /// Holds at least `bytes` in all, taking more from the budget if needed; never waits.
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), Exhausted> {
        let want = bytes.div_ceil(UNIT);
        let have = self.held_units();
        if want <= have {
            return Ok(());
        }
        let more = u32::try_from(want - have).map_err(|_| Exhausted)?;
        let permit = self
            .units
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| Exhausted)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    /// Gives back what is held beyond `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        let keep = bytes.div_ceil(UNIT);
        if let Some(held) = &mut self.held {
            let extra = held.num_permits().saturating_sub(keep);
            if extra > 0 {
                // Dropping the split-off part returns it to the budget.
                drop(held.split(extra));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_one_budget_and_give_back_on_drop() {
        let budget = BodyBudget::new(4 * UNIT);
        let mut a = budget.reservation();
        a.grow_to(UNIT + 1).unwrap();
        assert_eq!(a.bytes(), 2 * UNIT);
        let mut b = budget.reservation();
        b.grow_to(2 * UNIT).unwrap();
        assert_eq!(budget.in_use(), 4 * UNIT);
        assert_eq!(b.grow_to(3 * UNIT), Err(Exhausted), "nothing left");
        a.shrink_to(10);
        assert_eq!(a.bytes(), UNIT);
        b.grow_to(3 * UNIT).unwrap();
        drop(a);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn growing_within_what_is_held_takes_nothing() {
        let budget = BodyBudget::new(UNIT);
        let mut a = budget.reservation();
        a.grow_to(100).unwrap();
        a.grow_to(UNIT).unwrap();
        assert_eq!(budget.in_use(), UNIT);
        assert_eq!(budget.reservation().grow_to(1), Err(Exhausted));
    }
}
