//! The arithmetic of the accounting allocator, kept free of `unsafe` so it can be tested on its
//! own: where the owner tag sits in front of a block, the layout asked of the system allocator,
//! and how a tag and a meter's word are packed.
//!
//! A block handed out by [`SessionAllocator`](super::SessionAllocator) is
//!
//! ```text
//! outer start                          user pointer
//! |<------------- offset(align) ------------>|<---- size ---->|
//! |  (padding, only when align > 8)  | tag u64 |   user bytes   |
//! ```
//!
//! The tag says which meter was charged for the block (zero: none), so a free on any thread
//! credits the right session.

use std::alloc::Layout;

/// Bytes of the owner tag stored just before the user's pointer.
pub(crate) const TAG_BYTES: usize = size_of::<u64>();

/// Slots of the meter table (slot 0 means "no meter").
pub(crate) const SLOTS: usize = 1 << 16;

/// Bits of a meter word that count bytes; the 16 bits above hold the slot's generation.
const USED_BITS: u32 = 48;
const USED_MASK: u64 = (1 << USED_BITS) - 1;

/// Bytes from the start of the outer block to the user's pointer for a block of `align`:
/// the tag, or the alignment when it is larger (the tag then sits at the end of the padding).
pub(crate) const fn offset(align: usize) -> usize {
    if align > TAG_BYTES { align } else { TAG_BYTES }
}

/// The layout asked of the system allocator for a user layout: the tag in front, and at least
/// the tag's alignment. `None` when the size would overflow.
pub(crate) fn outer(layout: Layout) -> Option<Layout> {
    let size = layout.size().checked_add(offset(layout.align()))?;
    Layout::from_size_align(size, layout.align().max(TAG_BYTES)).ok()
}

/// The tag of a claimed slot: its index in the low 16 bits, its generation above.
pub(crate) fn tag(slot: usize, generation: u16) -> u64 {
    (u64::from(generation) << 16) | (slot as u64 & 0xffff)
}

/// The slot index of a tag (0: no meter).
pub(crate) fn tag_slot(tag: u64) -> usize {
    (tag & 0xffff) as usize
}

/// The generation of a tag.
pub(crate) fn tag_generation(tag: u64) -> u16 {
    ((tag >> 16) & 0xffff) as u16
}

/// A meter's word: its generation (odd while a session holds the slot) and the bytes charged.
pub(crate) fn word(generation: u16, used: u64) -> u64 {
    (u64::from(generation) << USED_BITS) | (used & USED_MASK)
}

/// The generation in a meter's word.
pub(crate) fn word_generation(word: u64) -> u16 {
    (word >> USED_BITS) as u16
}

/// The bytes charged in a meter's word.
pub(crate) fn word_used(word: u64) -> u64 {
    word & USED_MASK
}

/// The word after crediting `bytes` of a block tagged with `generation`; `None` when the slot
/// has moved on to another session since (the block's session is gone: nothing to credit).
/// Saturates at zero.
pub(crate) fn credited(current: u64, generation: u16, bytes: u64) -> Option<u64> {
    (word_generation(current) == generation)
        .then(|| word(generation, word_used(current).saturating_sub(bytes)))
}

/// The word after charging `bytes` (saturating at the 48-bit count, 256 TiB).
pub(crate) fn charged(current: u64, bytes: u64) -> u64 {
    let used = word_used(current).saturating_add(bytes).min(USED_MASK);
    word(word_generation(current), used)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_layout() -> impl Strategy<Value = Layout> {
        (0usize..1 << 40, 0u32..16).prop_filter_map("valid layout", |(size, shift)| {
            Layout::from_size_align(size, 1 << shift).ok()
        })
    }

    proptest! {
        #[test]
        fn the_user_block_is_aligned_and_inside_the_outer_block(layout in any_layout(), base_units in 0usize..1 << 20) {
            let outer = outer(layout).unwrap();
            // Any address the system allocator may return for `outer`.
            let base = base_units * outer.align();
            let user = base + offset(layout.align());
            prop_assert_eq!(user % layout.align(), 0, "user pointer misaligned");
            // The tag is 8-aligned, in the block, before the user bytes.
            let tag_at = user - TAG_BYTES;
            prop_assert!(tag_at >= base);
            prop_assert_eq!(tag_at % TAG_BYTES, 0);
            // The user bytes end inside the outer block.
            prop_assert!(user + layout.size() <= base + outer.size());
            prop_assert!(outer.align() >= layout.align());
        }

        #[test]
        fn the_overhead_is_the_tag_or_the_alignment(layout in any_layout()) {
            let outer = outer(layout).unwrap();
            prop_assert_eq!(outer.size() - layout.size(), layout.align().max(TAG_BYTES));
        }

        #[test]
        fn tags_round_trip(slot in 0usize..SLOTS, generation in any::<u16>()) {
            let t = tag(slot, generation);
            prop_assert_eq!(tag_slot(t), slot);
            prop_assert_eq!(tag_generation(t), generation);
            prop_assert_eq!(t == 0, slot == 0 && generation == 0);
        }

        #[test]
        fn charges_and_credits_balance(generation in any::<u16>(), sizes in proptest::collection::vec(0u64..1 << 32, 0..50)) {
            let mut w = word(generation, 0);
            for &s in &sizes {
                w = charged(w, s);
            }
            prop_assert_eq!(word_used(w), sizes.iter().sum::<u64>());
            for &s in sizes.iter().rev() {
                w = credited(w, generation, s).unwrap();
            }
            prop_assert_eq!(w, word(generation, 0));
        }

        #[test]
        fn a_credit_of_another_generation_changes_nothing(current in any::<u16>(), other in any::<u16>(), used in 0u64..1 << 40, bytes in any::<u64>()) {
            prop_assume!(current != other);
            prop_assert_eq!(credited(word(current, used), other, bytes), None);
        }

        #[test]
        fn credits_saturate_at_zero(generation in any::<u16>(), used in 0u64..1 << 40, bytes in any::<u64>()) {
            let w = credited(word(generation, used), generation, bytes).unwrap();
            prop_assert_eq!(word_used(w), used.saturating_sub(bytes));
            prop_assert_eq!(word_generation(w), generation);
        }

        #[test]
        fn charges_never_touch_the_generation(generation in any::<u16>(), used in any::<u64>(), bytes in any::<u64>()) {
            prop_assert_eq!(word_generation(charged(word(generation, used), bytes)), generation);
        }
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        let huge = Layout::from_size_align(isize::MAX as usize - 4, 1).unwrap();
        assert_eq!(outer(huge), None);
        let aligned = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
        assert_eq!(outer(aligned), None);
    }

    #[test]
    fn small_blocks_cost_eight_bytes() {
        for (size, align) in [(1, 1), (24, 8), (32, 16), (100, 4096)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let o = outer(layout).unwrap();
            assert_eq!(o.size(), size + align.max(8), "{size}/{align}");
            assert_eq!(o.align(), align.max(8));
        }
    }
}
