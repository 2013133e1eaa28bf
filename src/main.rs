//! The `converge` command line: parse, call the library, print.

mod cli;

fn main() -> std::process::ExitCode {
    bound_the_allocator();
    cli::main()
}

/// Keeps glibc's malloc from holding on to freed batch buffers. Left alone it raises its
/// mmap threshold to the largest block freed so far (up to 32 MiB), so multi-MiB Arrow
/// and COPY buffers end up in heap arenas — one per thread that allocates, up to 8 per
/// core — where freed memory stays resident: 297 MB peak on the 3 M-row benchmark. A
/// fixed threshold (big buffers are mapped and returned on free) and two arenas brought
/// that to 178 MB at the same speed (measured in BENCHMARKS.md). The threshold is
/// 128 KiB, not 1 MiB: the Parquet writers' page and dictionary buffers (128 KiB–1 MiB)
/// fragmented the arenas, and a CSV + Parquet export of the 3 M set peaked at 317 MB
/// with 1 MiB, 279 MB with 128 KiB, at the same speed. The environment's
/// `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` still win when set.
fn bound_the_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        }
    }
}
