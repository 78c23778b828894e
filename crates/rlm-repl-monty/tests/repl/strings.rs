//! Slicing and searching strings gives CPython's results on ASCII and non-ASCII text.
//!
//! Monty is patched (vendor/README.md) so that `find`/`index`/`count`/`startswith`/... and
//! step-1 slices of ASCII text use byte offsets from the cached ASCII flag. The snippet in
//! `data/str_search.py` walks bounds, negative and out-of-range starts, empty needles and steps
//! on one ASCII and one non-ASCII string; `data/str_search.expected` is CPython 3.11's output
//! (`python3 data/str_search.py > data/str_search.expected`).

use crate::support::check;

#[tokio::test]
async fn search_and_slices_match_cpython() {
    check(
        include_str!("data/str_search.py"),
        include_str!("data/str_search.expected"),
    )
    .await;
}

#[tokio::test]
async fn chunking_a_large_ascii_text_by_index_and_slices_is_exact() {
    // The shape models write: cut at line breaks found from a start offset, then slice.
    check(
        "context = ''.join(f'line {i}\\n' for i in range(20000))\n\
         n = len(context)\n\
         size = n // 64\n\
         cuts = [0] + [context.index('\\n', i * size) + 1 for i in range(1, 64)] + [n]\n\
         chunks = [context[cuts[i]:cuts[i + 1]] for i in range(64)]\n\
         print(sum(len(c) for c in chunks) == n, ''.join(chunks) == context, chunks[1][:7])",
        "True True line 37\n",
    )
    .await;
}
