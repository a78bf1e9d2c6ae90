//! Helper threads that wait for work by spinning, for decoding's products and attention.
//!
//! Decoding one token runs a few dozen small products, each a few microseconds of streaming a
//! weight, separated by microseconds of other work. A thread pool that puts idle threads to
//! sleep (rayon's) pays a wake-up per product, which costs more than the product (measured:
//! decoding got slower). These helpers instead spin for a short while after each job, so the
//! next job starts at once, and only then park. Each helper always starts on the same part of
//! every weight, so that part stays in its core's caches from token to token: on a 2-core
//! machine whose caches hold ~10 MB per core, two halves of a 20 MB model stream from cache
//! where one core alone reads it from memory. Jobs whose parts write their own output
//! ([`for_parts`]) are cut into chunks, and a thread done with its part takes what is left of
//! another's.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Most parts a job is split into: decoding is memory-bound, so a few cores saturate it, and
/// every helper spins on a core while decoding runs.
const MAX_PARTS: usize = 4;

/// How long a helper spins without work before it parks.
const SPIN_FOR: Duration = Duration::from_millis(2);

type Job = dyn Fn(usize) + Sync;

struct Shared {
    /// The job of the current round; written only while no helper runs one.
    job: UnsafeCell<Option<&'static Job>>,
    /// Rounds posted so far.
    round: AtomicUsize,
    /// Helpers done with the current round.
    finished: AtomicUsize,
    /// Whether a helper's part of the current round panicked.
    panicked: AtomicBool,
    /// Per helper: parked (or about to), so the poster must unpark it.
    parked: Vec<AtomicBool>,
}

// SAFETY: `job` is written by the poster only between rounds (while every helper waits for
// `round` to change) and read by helpers only during a round, ordered by `round` (release on
// post, acquire in the helper) and `finished` (release by the helper, acquire by the poster).
unsafe impl Sync for Shared {}

/// A fixed set of spinning helper threads; the caller runs part 0 of each job itself.
pub(crate) struct SpinningPool {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One job at a time; a caller that finds the pool busy runs its job alone.
    busy: Mutex<()>,
}

impl SpinningPool {
    /// The process-wide pool: one part per core, at most [`MAX_PARTS`].
    pub(crate) fn global() -> &'static SpinningPool {
        static POOL: OnceLock<SpinningPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = thread::available_parallelism().map_or(1, |n| n.get());
            SpinningPool::new(cores.clamp(1, MAX_PARTS))
        })
    }

    fn new(parts: usize) -> SpinningPool {
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(None),
            round: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            parked: (1..parts).map(|_| AtomicBool::new(false)).collect(),
        });
        let mut helpers = Vec::new();
        for part in 1..parts {
            let shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("lume-decode-{part}"))
                .spawn(move || helper(&shared, part));
            // Parts stay numbered 1..=helpers: without a thread, fewer parts.
            match spawned {
                Ok(handle) => helpers.push(handle.thread().clone()),
                Err(_) => break,
            }
        }
        SpinningPool {
            shared,
            helpers,
            busy: Mutex::new(()),
        }
    }

    /// How many parts [`run`](Self::run) splits a job into.
    pub(crate) fn parts(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Calls `job(part)` for every part in `0..parts()`, part 0 on this thread, and returns
    /// when all are done. Runs every part here when another job holds the pool.
    pub(crate) fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        let Ok(_guard) = self.busy.try_lock() else {
            (0..self.parts()).for_each(job);
            return;
        };
        if self.helpers.is_empty() {
            job(0);
            return;
        }
        let shared = &*self.shared;
        shared.finished.store(0, Ordering::Relaxed);
        shared.panicked.store(false, Ordering::Relaxed);
        // SAFETY: no helper reads `job` between rounds, and `WaitForHelpers` below keeps this
        // frame (and so `job`) alive until every helper has finished with it, even if part 0
        // panics: the `'static` is never observed past this call.
        unsafe {
            *shared.job.get() =
                Some(std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Job>(job));
        }
        shared.round.fetch_add(1, Ordering::SeqCst);
        for (parked, thread) in shared.parked.iter().zip(&self.helpers) {
            if parked.swap(false, Ordering::SeqCst) {
                thread.unpark();
            }
        }
        let wait = WaitForHelpers {
            shared,
            helpers: self.helpers.len(),
        };
        job(0);
        drop(wait);
        // SAFETY: every helper has finished this round (waited for above).
        unsafe {
            *shared.job.get() = None;
        }
        assert!(
            !shared.panicked.swap(false, Ordering::Relaxed),
            "a decoding helper thread panicked"
        );
    }
}

/// Spins until every helper has finished the current round, also while unwinding.
struct WaitForHelpers<'a> {
    shared: &'a Shared,
    helpers: usize,
}

impl Drop for WaitForHelpers<'_> {
    fn drop(&mut self) {
        while self.shared.finished.load(Ordering::Acquire) < self.helpers {
            std::hint::spin_loop();
        }
    }
}

/// Work (multiply-adds, roughly) below which the calling thread does a job alone: splitting it
/// costs more than it saves.
pub(crate) const SPLIT_FROM: usize = 1 << 15;

/// Runs `part(start, end)` over `len` items split evenly between the [`SpinningPool`]'s
/// threads (the caller alone when `work` is small), returning each part's start and output in
/// order. Each item's part depends only on `len` and the pool's size, so the results are the
/// same whichever thread runs a part.
pub(crate) fn in_parts(
    len: usize,
    work: usize,
    part: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<(usize, Vec<f32>)> {
    let parts = part_count(len, work);
    parts_at(parts, |p| len * p / parts, part)
}

/// [`in_parts`] over items of unequal cost (`weights`, multiply-adds roughly, such as decoding
/// slots of different lengths): each part gets about the same total weight.
pub(crate) fn in_weighted_parts(
    weights: &[usize],
    part: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<(usize, Vec<f32>)> {
    let total: usize = weights.iter().sum();
    let bounds = weighted_bounds(weights, part_count(weights.len(), total));
    parts_at(bounds.len() - 1, |p| bounds[p], part)
}

/// The `parts + 1` bounds of [`in_weighted_parts`]: part p starts at the first item whose
/// weight before it reaches p / parts of the total.
fn weighted_bounds(weights: &[usize], parts: usize) -> Vec<usize> {
    let total: usize = weights.iter().sum();
    let mut bounds = vec![0; parts + 1];
    let (mut sum, mut p) = (0, 1);
    for (i, &w) in weights.iter().enumerate() {
        while p < parts && sum * parts >= total * p {
            bounds[p] = i;
            p += 1;
        }
        sum += w;
    }
    for bound in &mut bounds[p..] {
        *bound = weights.len();
    }
    bounds
}

fn part_count(len: usize, work: usize) -> usize {
    if work < SPLIT_FROM {
        1
    } else {
        SpinningPool::global().parts().min(len.max(1))
    }
}

/// Runs `part(bound(p), bound(p + 1))` for each of `parts` parts on the pool's threads.
fn parts_at(
    parts: usize,
    bound: impl Fn(usize) -> usize + Sync,
    part: impl Fn(usize, usize) -> Vec<f32> + Sync,
) -> Vec<(usize, Vec<f32>)> {
    let outputs: Vec<Mutex<Vec<f32>>> = (0..parts).map(|_| Mutex::new(Vec::new())).collect();
    let compute = |p: usize| {
        if p >= parts {
            return;
        }
        let out = part(bound(p), bound(p + 1));
        if let Ok(mut slot) = outputs[p].lock() {
            *slot = out;
        }
    };
    if parts == 1 {
        compute(0);
    } else {
        SpinningPool::global().run(&compute);
    }
    outputs
        .into_iter()
        .enumerate()
        .map(|(p, out)| (bound(p), out.into_inner().unwrap_or_default()))
        .collect()
}

/// Runs `part(start, end)` over `len` items split between the [`SpinningPool`]'s threads (the
/// caller alone when `work` is small), for parts that write their own output, so that which
/// thread runs an item changes no result.
///
/// Each thread starts on its own stretch, a few chunks, and then takes the chunks that are
/// left of the others': two cores streaming memory rarely finish equal halves together (with
/// static halves the caller of batch-1 bf16 decoding waited for the helper 13 % of its time;
/// in chunks, 5 %).
pub(crate) fn for_parts(len: usize, work: usize, part: impl Fn(usize, usize) + Sync) {
    in_chunks(SpinningPool::global(), part_count(len, work), len, part);
}

/// [`for_parts`] on `pool` in `parts` parts.
fn in_chunks(pool: &SpinningPool, parts: usize, len: usize, part: impl Fn(usize, usize) + Sync) {
    if parts <= 1 {
        part(0, len);
        return;
    }
    let chunks = (parts * CHUNKS_PER_PART).min(len);
    let own = |p: usize| chunks * p / parts..chunks * (p + 1) / parts;
    let next: Vec<Cursor> = (0..parts)
        .map(|p| Cursor(AtomicUsize::new(own(p).start)))
        .collect();
    pool.run(&|p: usize| {
        if p >= parts {
            return;
        }
        for q in (p..parts).chain(0..p) {
            let end = own(q).end;
            loop {
                let c = next[q].0.fetch_add(1, Ordering::Relaxed);
                if c >= end {
                    break;
                }
                part(len * c / chunks, len * (c + 1) / chunks);
            }
        }
    });
}

/// Chunks per thread in [`for_parts`]: enough to even out the threads' ends, few enough that
/// claiming them costs nothing next to a product.
const CHUNKS_PER_PART: usize = 4;

/// A part's next chunk, alone on its cache line so that claiming one does not slow the other
/// threads' claims.
#[repr(align(128))]
struct Cursor(AtomicUsize);

fn helper(shared: &Shared, part: usize) {
    let parked = &shared.parked[part - 1];
    let mut seen = 0;
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        let round = loop {
            let round = shared.round.load(Ordering::Acquire);
            if round != seen {
                break round;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && idle_since.elapsed() > SPIN_FOR {
                // Announce the park before the last look at `round`: the poster bumps `round`
                // before reading `parked`, so one of the two sees the other (both SeqCst).
                parked.store(true, Ordering::SeqCst);
                if shared.round.load(Ordering::SeqCst) == seen {
                    thread::park();
                }
                parked.store(false, Ordering::SeqCst);
                idle_since = Instant::now();
            }
            std::hint::spin_loop();
        };
        seen = round;
        // SAFETY: the poster wrote `job` before the release increment of `round` acquired
        // above, and leaves it in place until this helper's `finished` increment.
        let job = unsafe { *shared.job.get() };
        if let Some(job) = job
            && catch_unwind(AssertUnwindSafe(|| job(part))).is_err()
        {
            shared.panicked.store(true, Ordering::Relaxed);
        }
        shared.finished.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::SpinningPool;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};

    #[test]
    fn every_part_runs_once_per_job() {
        let pool = SpinningPool::new(3);
        let parts = pool.parts();
        assert_eq!(parts, 3);
        let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        for round in 0..2000 {
            pool.run(&|part| {
                counts[part].fetch_add(1, Ordering::Relaxed);
            });
            if round == 1000 {
                // Long enough for the helpers to park: the next job must wake them.
                std::thread::sleep(super::SPIN_FOR * 3);
            }
        }
        for count in &counts {
            assert_eq!(count.load(Ordering::Relaxed), 2000);
        }
    }

    #[test]
    fn concurrent_callers_all_complete() {
        let pool = SpinningPool::new(2);
        let total = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..500 {
                        pool.run(&|_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 500 * 2);
    }

    proptest::proptest! {
        /// Parts cover the items in order, and none holds more than its share of the total
        /// weight plus one item.
        #[test]
        fn weighted_parts_are_contiguous_and_balanced(
            weights in proptest::collection::vec(0usize..1000, 0..60),
            parts in 1usize..5,
        ) {
            let bounds = super::weighted_bounds(&weights, parts);
            proptest::prop_assert_eq!(bounds.len(), parts + 1);
            proptest::prop_assert_eq!(bounds[0], 0);
            proptest::prop_assert_eq!(bounds[parts], weights.len());
            let total: usize = weights.iter().sum();
            let heaviest = weights.iter().copied().max().unwrap_or(0);
            for pair in bounds.windows(2) {
                proptest::prop_assert!(pair[0] <= pair[1]);
                let weight: usize = weights[pair[0]..pair[1]].iter().sum();
                proptest::prop_assert!(weight <= total.div_ceil(parts) + heaviest);
            }
        }
    }

    proptest::proptest! {
        /// Chunks tile the items, whatever the number of parts.
        #[test]
        fn chunks_cover_every_item_once(len in 0usize..200, parts in 1usize..4) {
            // One pool for every case: a pool's helpers live as long as the process.
            static POOL: OnceLock<SpinningPool> = OnceLock::new();
            let pool = POOL.get_or_init(|| SpinningPool::new(3));
            let seen = Mutex::new(Vec::new());
            super::in_chunks(pool, parts, len, |start, end| {
                seen.lock().expect("no panic").push((start, end));
            });
            let mut seen = seen.into_inner().expect("no panic");
            seen.sort_unstable();
            let mut next = 0;
            for (start, end) in seen {
                proptest::prop_assert_eq!(start, next);
                proptest::prop_assert!(end > start || len == 0);
                next = end;
            }
            proptest::prop_assert_eq!(next, len);
        }
    }

    #[test]
    fn a_free_thread_takes_a_slow_threads_chunks() {
        let pool = SpinningPool::new(2);
        let caller = std::thread::current().id();
        let by_helper = AtomicUsize::new(0);
        super::in_chunks(&pool, 2, 800, |_, _| {
            if std::thread::current().id() == caller {
                std::thread::sleep(std::time::Duration::from_millis(50));
            } else {
                by_helper.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Four chunks a part: the helper did its own and some of the caller's.
        assert!(by_helper.load(Ordering::Relaxed) > super::CHUNKS_PER_PART);
    }

    #[test]
    fn a_panicking_part_is_reported_to_the_caller() {
        let pool = SpinningPool::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|part| assert_ne!(part, 1, "part 1 fails"));
        }));
        assert!(result.is_err());
        // The pool still works afterwards.
        let runs = AtomicUsize::new(0);
        pool.run(&|_| {
            runs.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(runs.load(Ordering::Relaxed), 2);
    }
}
