//! The network on the host: its forward and backward passes, layer by layer, over
//! workspaces allocated once, generic over f32 (training) and f64 (gradient check).

use super::dropout::{dropout_backward, dropout_forward};
use super::layer::{dense_backward, dense_forward};
use super::loss::{head_forward_backward, LossTotals};
use super::pool::{self, Disjoint};
use super::real::Real;
use crate::backend::BatchTargets;
use crate::data::normalize::InputTransform;
use crate::data::{Row, Split};
use crate::dropout::{DropoutMask, DropoutStep};
use crate::error::{Error, Result};
use crate::network::Architecture;

/// The network's forward and backward pass over preallocated workspaces
/// (no allocation per batch), generic over f32 (training) and f64 (gradient check).
pub struct CpuNet<T> {
    pub arch: Architecture,
    max_batch: usize,
    /// acts[0]: the input batch (batch×in); acts[l+1]: layer l's output after its
    /// activation (the logits for the last layer). Backward reads these.
    acts: Vec<Vec<T>>,
    /// dz[l]: gradient of the mean loss with respect to layer l's pre-activation output.
    dz: Vec<Vec<T>>,
    /// kept[l+1]: layer l's output after dropout, where the layer has dropout; what
    /// the next layer reads while training.
    kept: Vec<Option<Vec<T>>>,
    /// The dropout step of the last training forward pass, which backward repeats.
    step: Option<DropoutStep>,
}

impl<T: Real> CpuNet<T> {
    pub fn new(arch: &Architecture, max_batch: usize) -> Self {
        let acts = arch
            .sizes
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        let dz = arch.sizes[1..]
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        let kept = std::iter::once(None)
            .chain(
                arch.dense_layers()
                    .map(|l| l.dropout.map(|_| vec![T::ZERO; l.outputs * max_batch])),
            )
            .collect();
        CpuNet {
            arch: arch.clone(),
            max_batch,
            acts,
            dz,
            kept,
            step: None,
        }
    }

    /// The input rows (batch×in) to fill before `forward`.
    pub fn input_mut(&mut self, batch: usize) -> &mut [T] {
        &mut self.acts[0][..batch * self.arch.inputs()]
    }

    /// Builds the input batch from examples `indices` of `split`, each feature
    /// transformed by `input` ((x − shift)·scale, as the GPU gather computes it).
    pub fn gather(&mut self, split: &Split, indices: &[u32], input: &InputTransform) -> Result<()> {
        self.check_batch(indices.len())?;
        let width = split.width;
        if input.width() != width {
            return Err(Error::Usage(format!(
                "an input transform of {} features for examples of {width}",
                input.width()
            )));
        }
        let x = Disjoint::new(self.input_mut(indices.len()));
        pool::for_ranges(indices.len(), 32, &|rows| {
            // SAFETY: for_ranges hands every part rows of its own.
            let x = unsafe { x.range(rows.start * width..rows.end * width) };
            let indices = &indices[rows];
            // Examples sit at random places in a data set larger than the caches, and
            // each is too short for the hardware prefetcher to get going: ask for the
            // examples a few rows ahead, so that their memory latency overlaps this row's work.
            for &i in indices.iter().take(PREFETCH_ROWS) {
                prefetch(split.row(i as usize));
            }
            for (r, (row, &i)) in x.chunks_exact_mut(width).zip(indices).enumerate() {
                if let Some(&ahead) = indices.get(r + PREFETCH_ROWS) {
                    prefetch(split.row(ahead as usize));
                }
                let stats = input.shift.iter().zip(&input.scale);
                // A subtraction then a multiplication, in f32: the GPU does the same,
                // so both paths see bit-identical inputs (bytes: x·(1/255) exactly).
                match split.row(i as usize) {
                    Row::U8(src) => {
                        for ((v, &b), (&t, &s)) in row.iter_mut().zip(src).zip(stats) {
                            *v = T::from_f32((b as f32 - t) * s);
                        }
                    }
                    Row::F32(src) => {
                        for ((v, &f), (&t, &s)) in row.iter_mut().zip(src).zip(stats) {
                            *v = T::from_f32((f - t) * s);
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// Runs every layer on the `batch` rows of the input batch, without dropout
    /// (evaluation).
    pub fn forward(&mut self, params: &[T], batch: usize) -> Result<()> {
        self.forward_with(params, batch, None)
    }

    /// The forward pass of training step `step`, with dropout where the network has it.
    pub fn forward_training(
        &mut self,
        params: &[T],
        batch: usize,
        step: DropoutStep,
    ) -> Result<()> {
        self.forward_with(params, batch, Some(step))
    }

    fn forward_with(
        &mut self,
        params: &[T],
        batch: usize,
        step: Option<DropoutStep>,
    ) -> Result<()> {
        self.check_batch(batch)?;
        self.step = step;
        for layer in self.arch.dense_layers() {
            let l = layer.index;
            let (before, after) = self.acts.split_at_mut(l + 1);
            let input = match (&self.kept[l], step) {
                (Some(kept), Some(_)) => &kept[..batch * layer.inputs],
                _ => &before[l][..batch * layer.inputs],
            };
            let z = &mut after[0][..batch * layer.outputs];
            dense_forward(&layer, params, input, z, batch);
            if let (Some(kept), Some(mask)) =
                (&mut self.kept[l + 1], DropoutMask::for_layer(&layer, step))
            {
                dropout_forward(z, &mut kept[..batch * layer.outputs], &mask);
            }
        }
        Ok(())
    }

    /// The last layer's outputs (batch×outputs): logits, or a regression's values.
    pub fn logits(&self, batch: usize) -> &[T] {
        &self.acts[self.arch.layers()][..batch * self.arch.outputs()]
    }

    /// The head's loss and its gradient at the outputs, averaged over `batch`
    /// examples whose targets are `targets`.
    pub fn loss_backward(&mut self, targets: BatchTargets, batch: usize) -> LossTotals<T> {
        let l = self.arch.layers();
        let c = self.arch.outputs();
        head_forward_backward(
            &self.arch.head,
            &self.acts[l][..batch * c],
            targets,
            c,
            batch,
            &mut self.dz[l - 1][..batch * c],
        )
    }

    /// Backpropagates from the logits gradient into `grads` (same layout as params),
    /// through the dropout masks of the last training forward pass.
    pub fn backward(&mut self, params: &[T], grads: &mut [T], batch: usize) -> Result<()> {
        self.check_batch(batch)?;
        for layer in self.arch.dense_layers().rev() {
            let l = layer.index;
            let (below, this) = self.dz.split_at_mut(l);
            let dz = &mut this[0][..batch * layer.outputs];
            if let Some(mask) = DropoutMask::for_layer(&layer, self.step) {
                dropout_backward(dz, &mask);
            }
            let a_act = &self.acts[l][..batch * layer.inputs];
            let a = match (&self.kept[l], self.step) {
                (Some(kept), Some(_)) => &kept[..batch * layer.inputs],
                _ => a_act,
            };
            let da = below.last_mut().map(|d| &mut d[..batch * layer.inputs]);
            dense_backward(&layer, params, a, a_act, dz, grads, da, batch);
        }
        Ok(())
    }

    fn check_batch(&self, batch: usize) -> Result<()> {
        if batch > self.max_batch {
            return Err(Error::Usage(format!(
                "a batch of {batch} examples, but the network's buffers hold {}",
                self.max_batch
            )));
        }
        Ok(())
    }
}

/// Rows of a batch whose images are requested ahead of their conversion.
const PREFETCH_ROWS: usize = 4;

/// Hints the CPU to bring `bytes` into the cache (a no-op off x86-64).
#[inline(always)]
fn prefetch(row: Row<'_>) {
    let bytes: &[u8] = match row {
        Row::U8(v) => v,
        Row::F32(v) => bytemuck::cast_slice(v),
    };
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints the cache; it never faults, and the address
        // is inside `bytes` anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
