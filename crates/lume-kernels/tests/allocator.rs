//! `reuse_freed_memory` keeps even a freed block of several GiB at the top of the heap: a
//! training step that frees more than 2 GiB must not hand it back to be faulted in again.
//!
//! Its own harness (`harness = false`): the test must allocate on the main thread, whose
//! arena is the heap that trimming shrinks (glibc maps other threads' largest blocks apart).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    assert!(
        lume_kernels::reuse_freed_memory(),
        "glibc refused the tuning"
    );
    // Past the largest trim threshold an `int` can set (2 GiB − 1).
    const BYTES: usize = 2304 << 20;
    let before = resident_kib();
    let block = vec![1u8; BYTES];
    std::hint::black_box(&block);
    let held = resident_kib();
    drop(block);
    let after = resident_kib();
    let kib = (BYTES >> 10) as u64;
    assert!(
        held >= before + kib * 9 / 10,
        "the block was not resident: {before} → {held} KiB"
    );
    assert!(
        after + kib / 10 >= held,
        "the freed block went back to the system: {held} → {after} KiB resident"
    );
    println!("test reuse_freed_memory_keeps_a_freed_block ... ok ({held} → {after} KiB)");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    assert!(!lume_kernels::reuse_freed_memory());
}
