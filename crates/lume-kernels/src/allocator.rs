//! Keeping freed tensor memory in the process, so that the next tensor reuses it.

/// Asks the C allocator to keep freed memory for reuse instead of handing it back to the
/// operating system. Returns whether the allocator took the advice.
///
/// Every Burn operation on the CPU allocates its output. Tensors of a few megabytes are, by
/// glibc's default, mapped fresh and unmapped when dropped, so each one pays a page fault per
/// 4 KiB on first touch; on the benchmark's training step that doubled the time of the matrix
/// products (measured with `lume perf`: 1.0 s → 0.67 s per step). This turns that off for the
/// whole process: call it once, first thing in `main`. The process then keeps its peak memory
/// until it exits. It does nothing (and returns `false`) where the allocator is not glibc's.
///
/// Trimming is turned off altogether (`M_TRIM_THRESHOLD` = -1, as `mallopt(3)` documents), not
/// set to its largest `int`: training batches grouped by length free over 2 GiB at the top of
/// the heap after a long batch, and giving it back made the next long batch fault every page in
/// again, written after a first read mapped it to the zero page (a second fault and a TLB
/// shoot-down on the other core each): 12–16 % of a SmolLM2 fine-tuning's time in the kernel,
/// gone once trimming was off (perf, on a 2-core Intel Xeon with AVX512-BF16).
///
/// ```
/// let applied = lume_kernels::reuse_freed_memory();
/// # let _ = applied;
/// ```
pub fn reuse_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes glibc's tuning parameters; any value is accepted
        // or refused (return value 0), never undefined.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
