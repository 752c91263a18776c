//! Matmul forward and backward on the CPU (mirrors shaders/matmul.wgsl).
//! Shapes: a: m×k (batch×in), w: k×n (in×out), z: m×n (batch×out), all row-major.

use super::real::Real;

/// z = a·w (bias and activation follow in `activation::bias_activation_forward`).
pub fn matmul_forward<T: Real>(a: &[T], w: &[T], z: &mut [T], m: usize, k: usize, n: usize) {
    T::gemm(
        m,
        k,
        n,
        a,
        (k as isize, 1),
        w,
        (n as isize, 1),
        T::ZERO,
        z,
        n as isize,
    );
}

/// dw = aᵀ·dz (k×n): the weight gradient, read through a transposed view of `a`.
pub fn matmul_backward_weight<T: Real>(
    a: &[T],
    dz: &[T],
    dw: &mut [T],
    m: usize,
    k: usize,
    n: usize,
) {
    T::gemm(
        k,
        m,
        n,
        a,
        (1, k as isize),
        dz,
        (n as isize, 1),
        T::ZERO,
        dw,
        n as isize,
    );
}

/// da = dz·wᵀ (m×k): the gradient with respect to the layer's input.
pub fn matmul_backward_input<T: Real>(
    dz: &[T],
    w: &[T],
    da: &mut [T],
    m: usize,
    k: usize,
    n: usize,
) {
    T::gemm(
        m,
        n,
        k,
        dz,
        (n as isize, 1),
        w,
        (1, n as isize),
        T::ZERO,
        da,
        k as isize,
    );
}

/// db = column sums of dz (n): the bias gradient.
pub fn bias_backward<T: Real>(dz: &[T], db: &mut [T], m: usize, n: usize) {
    db[..n].fill(T::ZERO);
    for row in dz[..m * n].chunks_exact(n) {
        for (d, &g) in db.iter_mut().zip(row) {
            *d += g;
        }
    }
}

/// The oracle for the fast paths: c = a·b by the textbook triple loop, with `a`
/// and `b` given by (row, column) strides, summed in f64.
#[allow(clippy::too_many_arguments)]
pub fn matmul_naive(
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| {
                    a[i * a_strides.0 + p * a_strides.1] as f64
                        * b[p * b_strides.0 + j * b_strides.1] as f64
                })
                .sum();
        }
    }
    c
}
