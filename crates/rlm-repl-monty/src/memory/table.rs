//! The static table of session meters and the thread's current meter.
//!
//! A meter is one `AtomicU64` word of a static table (`layout::SLOTS` of them, 512 KiB of
//! zeroed memory the OS maps lazily): a 16-bit generation, odd while a session holds the slot,
//! and a 48-bit count of the bytes charged to it. A session claims a slot when it starts and
//! bumps the generation again when it ends, so a block it allocated and that is freed later
//! (an answer string the caller keeps) carries a stale generation and credits nothing.
//!
//! Everything here is safe code and never allocates: the allocator calls it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::layout::{self, SLOTS};

static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// Slots whose session was cancelled: every memory check of its code fails from then on, so
/// a block still running for a caller that went away stops at its next checkpoint.
static CANCELLED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// Where the next claim starts looking, so claims rotate through the table.
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The tag of the meter charged for this thread's allocations (0: none). Const-initialized
    /// and without a destructor, so reading it never allocates or registers anything.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Claims a free slot; `None` when all of them are held.
pub(crate) fn claim() -> Option<u64> {
    for _ in 1..SLOTS {
        let slot = 1 + NEXT.fetch_add(1, Ordering::Relaxed) % (SLOTS - 1);
        let entry = &TABLE[slot];
        let current = entry.load(Ordering::Relaxed);
        let generation = layout::word_generation(current);
        if generation % 2 == 1 {
            continue;
        }
        let held = generation.wrapping_add(1);
        if entry
            .compare_exchange(
                current,
                layout::word(held, 0),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            CANCELLED[slot].store(false, Ordering::Relaxed);
            return Some(layout::tag(slot, held));
        }
    }
    None
}

/// Gives the slot of `tag` back; blocks still tagged with it credit nothing from now on.
pub(crate) fn release(tag: u64) {
    let slot = layout::tag_slot(tag);
    if slot == 0 {
        return;
    }
    let free = layout::tag_generation(tag).wrapping_add(1);
    CANCELLED[slot].store(false, Ordering::Relaxed);
    TABLE[slot].store(layout::word(free, 0), Ordering::Release);
}

/// Marks the session of `tag` cancelled (until its slot is released).
pub(crate) fn cancel(tag: u64) {
    let slot = layout::tag_slot(tag);
    if slot != 0 {
        CANCELLED[slot].store(true, Ordering::Relaxed);
    }
}

/// Whether the session of `tag` was cancelled.
pub(crate) fn is_cancelled(tag: u64) -> bool {
    let slot = layout::tag_slot(tag);
    slot != 0 && CANCELLED[slot].load(Ordering::Relaxed)
}

/// The bytes charged to the meter of `tag` and not yet freed; zero once it is released.
pub(crate) fn usage(tag: u64) -> usize {
    let slot = layout::tag_slot(tag);
    if slot == 0 {
        return 0;
    }
    let word = TABLE[slot].load(Ordering::Relaxed);
    if layout::word_generation(word) != layout::tag_generation(tag) {
        return 0;
    }
    usize::try_from(layout::word_used(word)).unwrap_or(usize::MAX)
}

/// Charges `bytes` to the meter of `tag` (a block was allocated while it was current).
pub(crate) fn charge(tag: u64, bytes: usize) {
    let slot = layout::tag_slot(tag);
    if slot == 0 {
        return;
    }
    // `fetch_update` never fails with a closure that always returns `Some`.
    let _ = TABLE[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
        Some(layout::charged(w, bytes as u64))
    });
}

/// Credits `bytes` to the meter of `tag` (a block it was charged for was freed, on any thread),
/// unless that session is over.
pub(crate) fn credit(tag: u64, bytes: usize) {
    let slot = layout::tag_slot(tag);
    if slot == 0 {
        return;
    }
    let generation = layout::tag_generation(tag);
    let _ = TABLE[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
        layout::credited(w, generation, bytes as u64)
    });
}

/// The tag of this thread's current meter (0: none).
pub(crate) fn current() -> u64 {
    CURRENT.try_with(Cell::get).unwrap_or(0)
}

/// Makes `tag` this thread's current meter; returns the previous one.
pub(crate) fn set_current(tag: u64) -> u64 {
    CURRENT.try_with(|c| c.replace(tag)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_slot_counts_and_forgets_after_release() {
        let tag = claim().unwrap();
        assert_ne!(tag, 0);
        charge(tag, 100);
        charge(tag, 50);
        credit(tag, 30);
        assert_eq!(usage(tag), 120);
        release(tag);
        assert_eq!(usage(tag), 0);
        // A late free of the released session's block changes nothing.
        credit(tag, 30);
        assert_eq!(usage(tag), 0);
    }

    #[test]
    fn claims_are_distinct_while_held() {
        let tags: Vec<u64> = (0..100).map(|_| claim().unwrap()).collect();
        let mut slots: Vec<usize> = tags.iter().map(|t| layout::tag_slot(*t)).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), tags.len());
        for t in tags {
            assert_eq!(layout::tag_generation(t) % 2, 1);
            release(t);
        }
    }

    #[test]
    fn the_current_meter_is_per_thread() {
        let previous = set_current(12345);
        assert_eq!(current(), 12345);
        std::thread::spawn(|| assert_eq!(current(), 0))
            .join()
            .unwrap();
        set_current(previous);
    }

    #[test]
    fn no_meter_charges_nothing() {
        charge(0, 10);
        credit(0, 10);
        assert_eq!(usage(0), 0);
    }
}
