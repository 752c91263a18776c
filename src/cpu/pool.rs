//! A small pool of helper threads for splitting one GEMM (or an elementwise loop)
//! into parts.
//!
//! Why not matrixmultiply's own threading: it leaves products with few rows (a
//! batch of 100) on one core, and spawning threads per call costs ~70 µs on the
//! machines we measured, a quarter of such a product. These helpers stay alive and
//! spin briefly between jobs (the gaps inside a training step are tens of µs), then
//! park, so an idle pool costs nothing (the GPU path never starts it at all).
//!
//! Why parts are claimed, not assigned: on a busy machine a helper may not run for
//! milliseconds. A job's parts (one per thread) have boundaries fixed before it
//! starts, and every thread (the caller too) claims the next part from one atomic
//! counter until none is left; so a helper the scheduler has not run claims
//! nothing, and the caller does the work. Only a part a helper has already claimed is waited for,
//! and when such a wait shows a helper was preempted mid-part, the next jobs run
//! on the caller alone for a while (`Pace`). Which thread runs a part never
//! changes what it computes: the same parts give the same bits on a quiet machine
//! and a busy one.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use web_time::Instant;

use crate::error::{Error, Result};

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_micros(300);

/// How long the caller spins for a part a helper is still running before it
/// yields its core (the helper may be waiting for it).
const WAIT_SPIN: Duration = Duration::from_micros(20);

/// The most parts one job may have (the claim word holds 16 bits of them).
pub const MAX_PARTS: usize = u16::MAX as usize;

/// A job: run part `i` of the work.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

struct Shared {
    /// The current job's generation (high 32 bits), its part count (16 bits) and
    /// the next part to claim (low 16 bits), in one word, so that a claim is one
    /// compare-and-swap that also proves the job is still the current one.
    claim: AtomicU64,
    /// The current job, valid while any of its parts is unfinished.
    job: AtomicPtr<()>,
    /// Parts of the current job finished (by anyone).
    done: AtomicUsize,
    /// Set when a part panicked; `run` re-raises it on the caller.
    panicked: AtomicBool,
}

impl Shared {
    /// The next unclaimed part of generation `generation`, or None when that job
    /// has none left (or is over).
    fn claim(&self, generation: u64) -> Option<usize> {
        let mut c = self.claim.load(Ordering::Acquire);
        loop {
            let (g, parts, next) = (c >> 32, (c >> 16) & 0xffff, c & 0xffff);
            if g != generation || next >= parts {
                return None;
            }
            match self
                .claim
                .compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(next as usize),
                Err(now) => c = now,
            }
        }
    }

    /// Claims and runs parts of `generation` until none is left. A claimed part
    /// proves the job unfinished, so its pointer is still the caller's.
    fn work(&self, generation: u64) {
        while let Some(i) = self.claim(generation) {
            // SAFETY: `run` published the job before this generation's claim word
            // and keeps it alive until every claimed part is done.
            let job = unsafe { &*(self.job.load(Ordering::Acquire) as *const Job) };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.f)(i))).is_err() {
                self.panicked.store(true, Ordering::Release);
            }
            self.done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One job at a time; a caller that finds the pool busy runs its parts itself.
    /// It holds how the helpers have kept up.
    busy: Mutex<Pace>,
}

/// How the helpers have kept up. A helper that claimed a part and was then
/// preempted makes the caller wait for it for a scheduler's time slice (4 ms
/// measured on a core shared with a busy loop), far more than a helper can save
/// in that time; so after such a stall jobs run on the caller alone for a while,
/// twice as long after each further stall (up to about a second), and the helpers
/// regain trust after as long again without one. Short waits (a parked helper
/// waking, an uneven split) are not stalls: a quiet machine keeps every thread.
#[derive(Default)]
struct Pace {
    /// Until when jobs skip the helpers.
    solo_until: Option<Instant>,
    /// Stalls not yet forgiven: the solo stretch is `SOLO · 2^level`.
    level: u32,
    /// When `level` last changed.
    since: Option<Instant>,
}

/// A wait for a helper's part this long means the helper was preempted.
const PREEMPTED: Duration = Duration::from_millis(1);

/// The first solo stretch after a stall.
const SOLO: Duration = Duration::from_millis(40);

/// The most doublings of the solo stretch (40 ms · 2⁵ ≈ 1.3 s).
const MAX_LEVEL: u32 = 5;

impl Pace {
    /// Whether jobs skip the helpers now.
    fn solo(&self) -> bool {
        self.solo_until.is_some_and(|until| Instant::now() < until)
    }

    /// After a job whose caller waited `waited` for the helpers' parts.
    fn record(&mut self, waited: Duration) {
        let now = Instant::now();
        if waited >= PREEMPTED {
            self.level = (self.level + 1).min(MAX_LEVEL);
            let solo = SOLO * (1 << self.level);
            self.solo_until = Some(now + solo);
            self.since = Some(now);
            log::debug!(
                "a CPU helper stalled for {waited:?}: the next {solo:?} of work runs on one thread"
            );
        } else if self.level > 0 {
            let calm = self.since.map_or(Duration::MAX, |s| now.duration_since(s));
            if calm > SOLO * (2 << self.level) {
                self.level -= 1;
                self.since = Some(now);
            }
        }
    }
}

impl Pool {
    fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            panicked: Default::default(),
        });
        // A helper the system refuses to start leaves its parts to fewer threads:
        // the results do not depend on how many there are.
        let helpers: Vec<Thread> = (1..threads)
            .map_while(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("gpu-mlp-cpu-{index}"))
                    .spawn(move || helper(&shared))
                    .map_err(|e| log::warn!("CPU helper thread {index} not started: {e}"))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        Pool {
            shared,
            helpers,
            busy: Mutex::new(Pace::default()),
        }
    }

    /// Threads that run parts, the caller's included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(0)` … `f(parts − 1)`, each once, on whichever threads claim them
    /// (the caller's among them), and returns when all are done. A panic in any
    /// part is re-raised here, after every part has finished (so no helper can
    /// outlive the job it borrows).
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        assert!(parts <= MAX_PARTS, "{parts} parts: at most {MAX_PARTS}");
        let Ok(mut pace) = self.busy.try_lock() else {
            return (0..parts).for_each(f);
        };
        if self.helpers.is_empty() || parts <= 1 || pace.solo() {
            return (0..parts).for_each(f);
        }
        let job = Job { f };
        let shared = &*self.shared;
        shared
            .job
            .store(&job as *const Job as *mut (), Ordering::Release);
        shared.done.store(0, Ordering::Release);
        let generation = ((shared.claim.load(Ordering::Acquire) >> 32) + 1) & 0xffff_ffff;
        shared
            .claim
            .store(generation << 32 | (parts as u64) << 16, Ordering::Release);
        for h in &self.helpers {
            h.unpark();
        }
        shared.work(generation);
        // `job` lives on this stack frame: wait for the parts helpers still run.
        let waiting = Instant::now();
        while shared.done.load(Ordering::Acquire) != parts {
            match waiting.elapsed() < WAIT_SPIN {
                true => std::hint::spin_loop(),
                false => std::thread::yield_now(),
            }
        }
        pace.record(waiting.elapsed());
        if shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("a part of a CPU job panicked");
        }
    }
}

fn helper(shared: &Shared) {
    let mut seen = 0;
    loop {
        let idle_since = Instant::now();
        let generation = loop {
            let g = shared.claim.load(Ordering::Acquire) >> 32;
            if g != seen {
                break g;
            }
            if idle_since.elapsed() > SPIN {
                // unpark() before park() leaves a token, so no wake-up is lost.
                std::thread::park();
            } else {
                std::hint::spin_loop();
            }
        };
        seen = generation;
        shared.work(generation);
    }
}

/// The most threads `set_threads` accepts.
pub const MAX_THREADS: usize = 1024;

static THREADS: OnceLock<usize> = OnceLock::new();

/// Sets how many threads the CPU path uses (default: every core). Only before its
/// first parallel call: the pool is started once per process.
pub fn set_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::Usage(format!(
            "{n} CPU threads: expected 1 to {MAX_THREADS}"
        )));
    }
    match THREADS.set(n) {
        Ok(()) => Ok(()),
        Err(_) if threads() == n => Ok(()),
        Err(_) => Err(Error::Usage(format!(
            "the CPU path already runs on {} threads",
            threads()
        ))),
    }
}

/// Threads the CPU path uses. In a browser's WebAssembly there are no threads to
/// start: the calling one does all the work, and no helper is ever spawned.
pub fn threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The process-wide pool, started on first use with `threads()` threads.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(threads()))
}

/// Runs `f(range)` over `0..len` cut into one contiguous range per thread, claimed
/// by whichever threads run (on the caller alone when `len < min_len`: small work
/// is not worth a wake-up). One part per thread, not more: four per thread were
/// measured 20–30 % slower per step on 2 cores, and claiming already lets the
/// caller take a lagging helper's part.
pub fn for_ranges(len: usize, min_len: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    let threads = if len < min_len { 1 } else { threads() };
    if threads == 1 {
        return f(0..len);
    }
    let chunk = len.div_ceil(threads);
    pool().run(len.div_ceil(chunk), &|i| {
        let (start, end) = ((i * chunk).min(len), ((i + 1) * chunk).min(len));
        if start < end {
            f(start..end);
        }
    });
}

/// A mutable slice that parallel parts borrow in disjoint ranges.
pub struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: parts only ever take disjoint ranges (see `range`), like split_at_mut.
unsafe impl<T: Send> Send for Disjoint<'_, T> {}
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    pub fn new(slice: &'a mut [T]) -> Self {
        Disjoint {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// The elements in `r`, clamped to the slice (an empty slice may be shared).
    ///
    /// # Safety
    /// No two live borrows may overlap: callers hand each parallel part its own range.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: std::ops::Range<usize>) -> &mut [T] {
        let start = r.start.min(self.len);
        let end = r.end.min(self.len).max(start);
        std::slice::from_raw_parts_mut(self.ptr.add(start), end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_and_ranges_cover_everything() {
        let pool = Pool::new(3);
        let hits: Vec<AtomicUsize> = (0..13).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..100 {
            pool.run(13, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
        }
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 100));
        let mut data = vec![0u32; 100_003];
        let d = Disjoint::new(&mut data);
        for_ranges(100_003, 1, &|r| {
            for (v, i) in unsafe { d.range(r.clone()) }.iter_mut().zip(r) {
                *v = i as u32;
            }
        });
        assert!(data.iter().enumerate().all(|(i, &v)| v as usize == i));
    }

    /// A helper that keeps the caller waiting past `PREEMPTED` (here: its part
    /// sleeps, as a preempted thread would) sends the next jobs to the caller alone,
    /// which still runs every part.
    #[test]
    fn a_stalled_helper_sends_the_next_jobs_to_the_caller() {
        let pool = Pool::new(2);
        let caller = std::thread::current().id();
        let helped = AtomicBool::new(false);
        pool.run(2, &|_| {
            if std::thread::current().id() != caller {
                helped.store(true, Ordering::Release);
                std::thread::sleep(3 * PREEMPTED);
                return;
            }
            // Leave the other part to the helper: wait (boundedly) until it has one.
            let started = Instant::now();
            while !helped.load(Ordering::Acquire) && started.elapsed() < Duration::from_secs(2) {
                std::thread::yield_now();
            }
        });
        assert!(
            helped.load(Ordering::Acquire),
            "the helper never ran a part"
        );
        let on_caller = AtomicUsize::new(0);
        pool.run(6, &|_| {
            if std::thread::current().id() == caller {
                on_caller.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(
            on_caller.load(Ordering::Relaxed),
            6,
            "jobs after a stall run on the caller"
        );
    }

    #[test]
    fn a_panicking_part_is_reraised_and_the_pool_survives() {
        let pool = Pool::new(2);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(5, &|i| assert!(i != 1, "part 1 fails"));
        }));
        assert!(caught.is_err());
        let ran = AtomicUsize::new(0);
        pool.run(7, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 7);
    }
}
