//! A small pool of helper threads for splitting one GEMM into parts.
//!
//! Why not matrixmultiply's own threading: it leaves products with few rows (a
//! batch of 100) on one core, and spawning threads per call costs ~70 µs on the
//! machines we measured, a quarter of such a product. These helpers stay alive and
//! spin briefly between jobs (the gaps inside a training step are tens of µs), then
//! park, so an idle pool costs nothing (the GPU path never starts it at all).

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use web_time::Instant;

use crate::error::{Error, Result};

/// How long an idle helper spins before it parks.
const SPIN: Duration = Duration::from_micros(300);

/// A job: run part `i` of the work.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

struct Shared {
    generation: AtomicU64,
    remaining: AtomicUsize,
    job: AtomicPtr<()>,
    /// Set when a part panicked on a helper; `run` re-raises it on the caller.
    panicked: std::sync::atomic::AtomicBool,
}

pub struct Pool {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One job at a time; a caller that finds the pool busy runs its parts itself.
    busy: Mutex<()>,
}

impl Pool {
    fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            panicked: Default::default(),
        });
        // A helper the system refuses to start leaves its parts to fewer threads:
        // the results do not depend on how many there are.
        let helpers: Vec<Thread> = (1..threads)
            .map_while(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("gpu-mlp-cpu-{index}"))
                    .spawn(move || helper(&shared, index))
                    .map_err(|e| log::warn!("CPU helper thread {index} not started: {e}"))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        Pool {
            shared,
            helpers,
            busy: Mutex::new(()),
        }
    }

    /// Threads that run parts, the caller's included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(0)` … `f(threads() − 1)`, part 0 on the calling thread, and returns
    /// when all are done. A panic in any part is re-raised here, after every part
    /// has finished (so no helper can outlive the job it borrows).
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let Ok(_guard) = self.busy.try_lock() else {
            (0..self.threads()).for_each(f);
            return;
        };
        if self.helpers.is_empty() {
            return f(0);
        }
        let job = Job { f };
        self.shared
            .job
            .store(&job as *const Job as *mut (), Ordering::Release);
        self.shared
            .remaining
            .store(self.helpers.len(), Ordering::Release);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        for h in &self.helpers {
            h.unpark();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
        // `job` lives on this stack frame: wait until no helper can still read it.
        while self.shared.remaining.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        if let Err(payload) = mine {
            std::panic::resume_unwind(payload);
        }
        if self.shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("a CPU helper thread panicked");
        }
    }
}

fn helper(shared: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        let idle_since = Instant::now();
        loop {
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            if idle_since.elapsed() > SPIN {
                // unpark() before park() leaves a token, so no wake-up is lost.
                std::thread::park();
            } else {
                std::hint::spin_loop();
            }
        }
        // SAFETY: `run` published this pointer before bumping the generation and
        // keeps the job alive until `remaining` reaches zero.
        let job = unsafe { &*(shared.job.load(Ordering::Acquire) as *const Job) };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.f)(index))).is_err() {
            shared.panicked.store(true, Ordering::Release);
        }
        shared.remaining.fetch_sub(1, Ordering::AcqRel);
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

/// Runs `f(range)` over `0..len` cut into one contiguous range per thread, or on
/// the caller alone when `len < min_len` (small work is not worth a wake-up).
pub fn for_ranges(len: usize, min_len: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    let threads = if len < min_len { 1 } else { threads() };
    if threads == 1 {
        return f(0..len);
    }
    let pool = pool();
    let chunk = len.div_ceil(pool.threads());
    pool.run(&|i| {
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
        let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..100 {
            pool.run(&|i| {
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

    #[test]
    fn a_panicking_part_is_reraised_and_the_pool_survives() {
        let pool = Pool::new(2);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|i| assert!(i != 1, "part 1 fails"));
        }));
        assert!(caught.is_err());
        let ran = AtomicUsize::new(0);
        pool.run(&|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    }
}
