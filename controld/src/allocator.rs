//! controld's memory allocator: jemalloc, handing freed pages back to the
//! kernel about a second after a burst frees them.
//!
//! glibc's malloc keeps freed pages in per-thread arenas (up to eight per
//! core) and returns them only from an arena's top, so after a burst —
//! 10,000 deploys, 200 lists of 1,000 nodes — controld stayed 40–210 MiB
//! above its live heap, more at rest than at the peak, and by a different
//! amount every run. A periodic `malloc_trim` fixed the figure but stalled
//! every thread for up to 150 ms (List p99 went from 9 to 160 ms).
//! jemalloc purges on its own background threads, per arena; mimalloc held
//! the most. The trial's figures are in docs/BENCHMARKS.md ("Fleet
//! memory"); the `system-allocator` and `mimalloc` features build the
//! others to repeat it.

#[cfg(not(any(feature = "system-allocator", feature = "mimalloc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A C string's address, as jemalloc reads its options: `const char *`.
#[cfg(not(any(feature = "system-allocator", feature = "mimalloc")))]
#[repr(transparent)]
pub struct Options(*const u8);

// SAFETY: the pointer is to a 'static, immutable byte string.
#[cfg(not(any(feature = "system-allocator", feature = "mimalloc")))]
unsafe impl Sync for Options {}

/// jemalloc's options, read once when it starts: purge on background
/// threads, not on the threads serving requests; hand dirty pages back
/// after 1 s (the default 10 s left a burst's pages resident through the
/// next one) and skip the lazy "muzzy" stage. `_RJEM_MALLOC_CONF` in the
/// environment still overrides them.
#[cfg(not(any(feature = "system-allocator", feature = "mimalloc")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
#[allow(non_upper_case_globals)]
pub static malloc_conf: Options =
    Options(b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0".as_ptr());

/// Before any other thread exists.
pub fn setup() {
    #[cfg(all(feature = "system-allocator", target_os = "linux", target_env = "gnu"))]
    fixed_mmap_threshold();
}

/// (glibc only.) A login hashes its password with Argon2 in 19 MiB. glibc
/// serves a block that large with mmap, but on freeing it raises its mmap
/// threshold above that size, so every later hash came from the heap and
/// stayed: 19 MiB resident for good after one login. A fixed threshold
/// (the default 128 KiB, set explicitly, which turns the raising off) hands
/// such blocks back at once.
#[cfg(all(feature = "system-allocator", target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only changes malloc's tuning; it is called before any
    // other thread exists, with a documented parameter and a valid value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
