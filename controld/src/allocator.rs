//! controld's memory allocator: jemalloc, for Rust and C alike (SQLite's
//! page cache and statements included), handing freed pages back to the
//! kernel on its own threads in the seconds after a burst.
//!
//! glibc's malloc keeps freed pages in per-thread arenas (up to eight per
//! core) and returns them only from an arena's top, so after a burst —
//! 10,000 deploys, 200 lists of 1,000 nodes — controld stayed 40–210 MiB
//! above its live heap, more at rest than at the peak, and by a different
//! amount every run. A periodic `malloc_trim` fixed the figure but stalls
//! every thread of an arena while it walks it (List p99 went from 9 to
//! 160 ms on SQLite). jemalloc purges on its own background threads, per
//! arena; it must also serve C's `malloc` (unprefixed), or SQLite's
//! allocations stay on glibc's arenas. mimalloc held the most. The trial's
//! figures are in docs/BENCHMARKS.md ("Fleet memory"); building with
//! `--no-default-features --features system-allocator` (or `mimalloc`)
//! repeats it.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A C string's address, as jemalloc reads its options: `const char *`.
#[cfg(feature = "jemalloc")]
#[repr(transparent)]
pub struct Options(*const std::ffi::c_char);

// SAFETY: the pointer is to a 'static, immutable byte string.
#[cfg(feature = "jemalloc")]
unsafe impl Sync for Options {}

/// jemalloc's options, read once when it starts: purge on background
/// threads, not on the threads serving requests, at jemalloc's default
/// pace (dirty pages back to the kernel over 10 s). With a faster pace (1
/// or 5 s) List's p99 under `make scale` rose to 80–150 ms in half the runs
/// (9–15 ms at this pace). `MALLOC_CONF` in the
/// environment still overrides it.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "malloc_conf")]
#[allow(non_upper_case_globals)]
pub static malloc_conf: Options = Options(c"background_thread:true".as_ptr());

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
