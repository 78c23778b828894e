//! [`SessionAllocator`], the global allocator that charges each block to the session meter
//! current on the allocating thread. The only `unsafe` code of the crate.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use super::layout::{self, TAG_BYTES};
use super::table;

/// A global allocator that meters memory per Monty session: install it in a binary to make
/// [`ReplConfig::max_memory`](rlm_core::ReplConfig) a real per-session cap.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOCATOR: rlm_repl_monty::memory::SessionAllocator =
///     rlm_repl_monty::memory::SessionAllocator;
/// # fn main() {}
/// ```
///
/// It wraps [`std::alloc::System`]. Every block gets an 8-byte tag in front (more only for
/// alignments above 8) naming the session whose code allocated it, so a free credits that session
/// on whatever thread it happens; a block allocated outside any session is tagged "none" and
/// never counts. Without it installed, sessions still refuse single allocations larger than the
/// cap, but gradual growth is not bounded.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionAllocator;

impl SessionAllocator {
    /// Writes the tag in front of the user pointer of a fresh outer block and charges its meter.
    ///
    /// # Safety
    /// `base` must be non-null and the start of a live block allocated with `outer`, the result
    /// of `layout::outer(user)` for a layout of alignment `align`.
    unsafe fn finish(base: *mut u8, align: usize, outer: Layout) -> *mut u8 {
        let tag = table::current();
        // SAFETY: `layout::offset(align)` is less than `outer.size()` (the outer block adds it
        // to the user size), so `user` stays inside the block.
        let user = unsafe { base.add(layout::offset(align)) };
        // SAFETY: the tag's 8 bytes sit just before `user`, inside the block (the offset is at
        // least `TAG_BYTES`), and are 8-aligned: `user` is aligned to `max(align, 8)` because
        // `base` is aligned to `outer.align() >= 8` and the offset is a multiple of it or 8.
        unsafe { user.sub(TAG_BYTES).cast::<u64>().write(tag) };
        table::charge(tag, outer.size());
        user
    }

    /// The start of the outer block of a user pointer, and the tag stored in it.
    ///
    /// # Safety
    /// `ptr` must have been returned by this allocator for a layout of alignment `align` and
    /// not freed since.
    unsafe fn open(ptr: *mut u8, align: usize) -> (*mut u8, u64) {
        // SAFETY: this allocator wrote the tag just before `ptr` (see `finish`), aligned.
        let tag = unsafe { ptr.sub(TAG_BYTES).cast::<u64>().read() };
        // SAFETY: `ptr` is `offset(align)` bytes into its outer block.
        let base = unsafe { ptr.sub(layout::offset(align)) };
        (base, tag)
    }
}

// SAFETY: every method forwards to `System` with the outer layout (the user layout grown by
// the tag and at least as aligned), hands out a pointer inside that block that meets the user
// layout's alignment and size (proved by the property tests of `layout`), and frees or
// reallocates with exactly the outer layout the block was allocated with, recomputed from the
// same user layout. The bookkeeping (`table`) never allocates and never unwinds.
unsafe impl GlobalAlloc for SessionAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(outer) = layout::outer(layout) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `outer` has a non-zero size (it includes the tag).
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `base` is a fresh block of `outer`.
        unsafe { Self::finish(base, layout.align(), outer) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(outer) = layout::outer(layout) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `outer` has a non-zero size.
        let base = unsafe { System.alloc_zeroed(outer) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `base` is a fresh block of `outer`; the tag overwrites padding only.
        unsafe { Self::finish(base, layout.align(), outer) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The caller passes the layout the block was allocated with, so this is the same outer
        // layout; it was computable then, so it is now.
        let Some(outer) = layout::outer(layout) else {
            return;
        };
        // SAFETY: `ptr` came from this allocator with `layout` (the `GlobalAlloc` contract).
        let (base, tag) = unsafe { Self::open(ptr, layout.align()) };
        // SAFETY: `base` was allocated by `System` with `outer`.
        unsafe { System.dealloc(base, outer) };
        table::credit(tag, outer.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (Some(old_outer), Ok(new_user)) = (
            layout::outer(layout),
            Layout::from_size_align(new_size, layout.align()),
        ) else {
            return std::ptr::null_mut();
        };
        let Some(new_outer) = layout::outer(new_user) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `ptr` came from this allocator with `layout`.
        let (base, old_tag) = unsafe { Self::open(ptr, layout.align()) };
        // SAFETY: `base` was allocated by `System` with `old_outer`; `new_outer.size()` is
        // non-zero and a valid size for that alignment (checked by `Layout::from_size_align`).
        let new_base = unsafe { System.realloc(base, old_outer, new_outer.size()) };
        if new_base.is_null() {
            // The old block is untouched and keeps its charge.
            return new_base;
        }
        // A reallocation is a free and an allocation: the old owner gets its bytes back and the
        // current session (if any) pays for the new block, whose tag is rewritten. The offset is
        // the same (same alignment), and `System.realloc` kept the old bytes in front of it.
        table::credit(old_tag, old_outer.size());
        // SAFETY: `new_base` is a live block of `new_outer`.
        unsafe { Self::finish(new_base, layout.align(), new_outer) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::memory::Meter;

    /// Runs `f` with a fresh meter current on this thread; returns the meter's usage after.
    fn metered(f: impl FnOnce()) -> (Meter, usize) {
        let meter = Meter::new();
        {
            let _entered = meter.enter();
            f();
        }
        let used = meter.usage();
        (meter, used)
    }

    #[test]
    fn a_block_is_charged_with_its_tag_and_credited_when_freed() {
        let a = SessionAllocator;
        let layout = Layout::from_size_align(1000, 8).unwrap();
        let mut ptr = std::ptr::null_mut();
        let (meter, used) = metered(|| ptr = unsafe { a.alloc(layout) });
        assert_eq!(used, 1008);
        // Freed on a thread with no meter: still credited to the owner.
        unsafe { a.dealloc(ptr, layout) };
        assert_eq!(meter.usage(), 0);
    }

    #[test]
    fn blocks_of_no_session_never_count() {
        let a = SessionAllocator;
        let layout = Layout::from_size_align(64, 8).unwrap();
        let ptr = unsafe { a.alloc(layout) };
        let (meter, used) = metered(|| unsafe { a.dealloc(ptr, layout) });
        assert_eq!(used, 0);
        drop(meter);
    }

    #[test]
    fn realloc_moves_the_charge_to_the_current_session() {
        let a = SessionAllocator;
        let layout = Layout::from_size_align(100, 8).unwrap();
        let mut ptr = std::ptr::null_mut();
        let (first, _) = metered(|| {
            ptr = unsafe { a.alloc(layout) };
            unsafe { ptr.write_bytes(7, 100) };
        });
        let (second, used) = metered(|| ptr = unsafe { a.realloc(ptr, layout, 5000) });
        assert_eq!(first.usage(), 0);
        assert_eq!(used, 5008);
        // The bytes survived the move.
        assert!((0..100).all(|i| unsafe { *ptr.add(i) } == 7));
        unsafe { a.dealloc(ptr, Layout::from_size_align(5000, 8).unwrap()) };
        assert_eq!(second.usage(), 0);
    }

    #[test]
    fn a_released_meter_ignores_late_frees() {
        let a = SessionAllocator;
        let layout = Layout::from_size_align(256, 16).unwrap();
        let mut ptr = std::ptr::null_mut();
        let (meter, used) = metered(|| ptr = unsafe { a.alloc(layout) });
        assert_eq!(used, 256 + 16);
        drop(meter);
        let (other, used) = metered(|| unsafe { a.dealloc(ptr, layout) });
        assert_eq!(used, 0);
        drop(other);
    }

    #[test]
    fn oversized_requests_fail_without_touching_the_system() {
        let a = SessionAllocator;
        let layout = Layout::from_size_align(isize::MAX as usize - 4, 1).unwrap();
        assert!(unsafe { a.alloc(layout) }.is_null());
        assert!(unsafe { a.alloc_zeroed(layout) }.is_null());
    }

    proptest! {
        #[test]
        fn any_sequence_of_blocks_balances(ops in proptest::collection::vec((1usize..5000, 0u32..13, 1usize..9000, any::<bool>()), 1..40)) {
            let a = SessionAllocator;
            let meter = Meter::new();
            let _entered = meter.enter();
            let mut blocks = Vec::new();
            let mut expected = 0usize;
            for (size, shift, grown, zeroed) in ops {
                let layout = Layout::from_size_align(size, 1 << shift).unwrap();
                let ptr = unsafe { if zeroed { a.alloc_zeroed(layout) } else { a.alloc(layout) } };
                prop_assert!(!ptr.is_null());
                prop_assert_eq!(ptr as usize % layout.align(), 0);
                if zeroed {
                    let zero = (0..size).all(|i| unsafe { *ptr.add(i) } == 0);
                    prop_assert!(zero, "not zeroed");
                }
                unsafe { ptr.write_bytes(0xa5, size) };
                let ptr = unsafe { a.realloc(ptr, layout, grown) };
                prop_assert!(!ptr.is_null());
                prop_assert_eq!(ptr as usize % layout.align(), 0);
                let kept = (0..size.min(grown)).all(|i| unsafe { *ptr.add(i) } == 0xa5);
                prop_assert!(kept, "realloc lost bytes");
                let layout = Layout::from_size_align(grown, 1 << shift).unwrap();
                expected += layout::outer(layout).unwrap().size();
                blocks.push((ptr, layout));
            }
            prop_assert_eq!(meter.usage(), expected);
            for (ptr, layout) in blocks {
                unsafe { a.dealloc(ptr, layout) };
            }
            prop_assert_eq!(meter.usage(), 0);
        }
    }
}
