//! The float type of the CPU path. Training uses f32 (as the GPU does); the
//! gradient check runs the very same code in f64, so the check measures the
//! backprop formulas, not f32 rounding.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use super::kernel::CpuKernel;

pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(x: f64) -> Self;
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    /// σ(x) = 1 / (1 + e^−x) for the activation loops. f64 goes through libm (the
    /// gradient check wants the exact function); f32 through `exp_f32`, which the
    /// compiler vectorises where libm's expf is a scalar call per element.
    fn sigmoid(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn powi(self, n: i32) -> Self;

    /// `C = alpha·A·B + beta·C` for an m×k A and a k×n B given by row and column
    /// strides (so transposes cost nothing), through matrixmultiply.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        beta: Self,
        c: &mut [Self],
        c_row_stride: isize,
    );
}

/// Checks that every element a strided m×n view reaches lies inside `len`, so the
/// unsafe GEMM call below can never read or write out of bounds.
fn assert_view(len: usize, rows: usize, cols: usize, (rs, cs): (isize, isize)) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) as isize * rs + (cols - 1) as isize * cs;
    assert!(
        rs >= 0 && cs >= 0 && (last as usize) < len,
        "GEMM view out of bounds"
    );
}

/// Products with fewer multiply-adds than this stay on one thread: below it,
/// waking the helpers costs more than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// Raw pointers that the parts of one split GEMM share; each part writes a
/// disjoint block of C.
#[derive(Clone, Copy)]
struct Shared<T>(*const T, *const T, *mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

/// matrixmultiply's `sgemm`/`dgemm`.
type MatrixMultiply<T> = unsafe fn(
    usize,
    usize,
    usize,
    T,
    *const T,
    isize,
    isize,
    *const T,
    isize,
    isize,
    T,
    *mut T,
    isize,
    isize,
);

/// A strided operand: pointer, row stride, column stride.
type View<P> = (P, isize, isize);

/// C (m×n, row stride `c.1`) = beta·C + A (m×k) · B (k×n) on this thread, with
/// `kernel`'s GEMM.
///
/// # Safety
/// Every element the three views reach must be valid, and C must not alias A or B.
unsafe fn gemm_part<T: Real>(
    kernel: CpuKernel,
    m: usize,
    k: usize,
    n: usize,
    (a, b, c): (View<*const T>, View<*const T>, (*mut T, isize)),
    beta: T,
    matrixmultiply: MatrixMultiply<T>,
) {
    match kernel {
        CpuKernel::Avx2 => matrixmultiply(
            m,
            k,
            n,
            T::ONE,
            a.0,
            a.1,
            a.2,
            b.0,
            b.1,
            b.2,
            beta,
            c.0,
            c.1,
            1,
        ),
        // gemm's dst = alpha·dst + beta·lhs·rhs, columns first in each stride pair.
        CpuKernel::Avx512 => gemm::gemm(
            m,
            n,
            k,
            c.0,
            1,
            c.1,
            beta != T::ZERO,
            a.0,
            a.2,
            a.1,
            b.0,
            b.2,
            b.1,
            beta,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        ),
        CpuKernel::Portable => portable_gemm(m, k, n, a, b, c, beta),
    }
}

/// The plain-loop GEMM: row by row of C, each row a sum of scaled rows of B, in
/// code the compiler vectorises for the build's baseline target only.
///
/// # Safety
/// As `gemm_part`.
unsafe fn portable_gemm<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: View<*const T>,
    b: View<*const T>,
    c: (*mut T, isize),
    beta: T,
) {
    for i in 0..m {
        let row = std::slice::from_raw_parts_mut(c.0.offset(i as isize * c.1), n);
        for v in row.iter_mut() {
            *v = if beta == T::ZERO { T::ZERO } else { beta * *v };
        }
        for p in 0..k {
            let x = *a.0.offset(i as isize * a.1 + p as isize * a.2);
            let b_row = b.0.offset(p as isize * b.1);
            for (j, v) in row.iter_mut().enumerate() {
                *v += x * *b_row.offset(j as isize * b.2);
            }
        }
    }
}

/// e^x in f32 without a libm call, so that loops over it vectorise: Cephes' expf
/// (range reduction by ln 2 in two parts, a degree-5 polynomial on |r| ≤ ln2/2,
/// then 2^n through the exponent bits), within 0.7 ULP of the exact value as
/// measured (tests/cpu_reference.rs holds it to 2). x is
/// clamped to [−87.3, 88.3], where 2^n stays a normal float: below it the result is
/// ~1e-38 instead of a denormal or 0, above it 2e38 instead of +inf. NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = C1 − C2, C1 exact in 9 bits so that n·C1 is exact for |n| ≤ 127.
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 and subtracting it again rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * C1 - n * C2;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // n as an integer, read from t's low mantissa bits (t − ROUND is exact, so
    // they hold n): integer arithmetic the compiler vectorises, where `n as i32`
    // (saturating, NaN to 0) became a compare and a move per lane.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    e * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

macro_rules! impl_real {
    ($t:ty, $gemm:path, $exp:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn sigmoid(self) -> Self {
                1.0 / (1.0 + $exp(-self))
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                a: &[Self],
                a_strides: (isize, isize),
                b: &[Self],
                b_strides: (isize, isize),
                beta: Self,
                c: &mut [Self],
                c_row_stride: isize,
            ) {
                assert_view(a.len(), m, k, a_strides);
                assert_view(b.len(), k, n, b_strides);
                assert_view(c.len(), m, n, (c_row_stride, 1));
                let (a_rs, a_cs) = a_strides;
                let (b_rs, b_cs) = b_strides;
                let ptrs = Shared(a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                // Read on the calling thread: helper threads run the same kernel.
                let kernel = super::kernel::current();
                // C row-block or column-block [start, end): one sub-product on one thread.
                let part = move |rows: bool, start: usize, end: usize| {
                    let p = ptrs;
                    if start >= end {
                        return;
                    }
                    // SAFETY: the views were checked above to lie inside their slices;
                    // a block of them does too, parts write disjoint blocks of C, and
                    // `c` is borrowed mutably, so it aliases neither `a` nor `b`.
                    unsafe {
                        let block = if rows {
                            let a = p.0.offset(start as isize * a_rs);
                            let c = p.2.offset(start as isize * c_row_stride);
                            (end - start, n, a, p.1, c)
                        } else {
                            let b = p.1.offset(start as isize * b_cs);
                            (m, end - start, p.0, b, p.2.add(start))
                        };
                        let (bm, bn, a, b, c) = block;
                        let views = ((a, a_rs, a_cs), (b, b_rs, b_cs), (c, c_row_stride));
                        gemm_part(kernel, bm, k, bn, views, beta, $gemm);
                    }
                };
                let threads = super::pool::threads();
                if m * k * n < PARALLEL_MIN_MACS || threads == 1 {
                    return part(true, 0, m);
                }
                // The longer side of C in one block per thread, a multiple of 16 rows or
                // columns (the micro-kernels' tiles): fewer, larger parts pack each
                // operand panel fewer times. The blocks depend on the thread count only,
                // never on which thread runs one: the pool's threads claim them, and
                // the caller runs them all in turn where helpers lag (pool.rs).
                let rows = m >= n;
                let len = if rows { m } else { n };
                let chunk = len.div_ceil(threads).next_multiple_of(16);
                let parts = len.div_ceil(chunk);
                super::pool::pool().run(parts, &|i| {
                    part(rows, i * chunk, ((i + 1) * chunk).min(len))
                });
            }
        }
    };
}

impl_real!(f32, matrixmultiply::sgemm, exp_f32);
impl_real!(f64, matrixmultiply::dgemm, f64::exp);
