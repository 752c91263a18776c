//! A split's figures for its task, on the host in f64 from the network's outputs
//! (read back once, on either path): the loss through the CPU's loss head (the
//! reference formulas), accuracy, and the task's figures ([`Figure`]).
//! Classification keeps the backend's own loss and accuracy sums (no outputs read
//! back); evaluation figures are never weighted.

use crate::backend::{Backend, TargetWords};
use crate::cpu::loss::head_forward_backward;
use crate::data::{Dataset, Split, SplitKind, Targets};
use crate::error::Result;
use crate::report::{Figure, Figures};
use crate::task::{Head, Task};

/// A split's loss, accuracy (none for a regression) and task figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitScores {
    /// Mean loss.
    pub loss: f64,
    /// Accuracy (subset accuracy for multilabel); None for a regression.
    pub accuracy: Option<f64>,
    /// The task's figures.
    pub figures: Figures,
    /// Each output's own figure: R² (regress) or F1 (multilabel); empty for the
    /// class tasks.
    pub per_output: Vec<f64>,
}

/// `kind`'s figures for `head` on `backend` (with its current parameters).
pub async fn score_split(
    backend: &mut dyn Backend,
    data: &Dataset,
    head: &Head,
    kind: SplitKind,
) -> Result<SplitScores> {
    if head.task == Task::Classify {
        let t = backend.evaluate_async(kind).await?;
        return Ok(SplitScores {
            loss: t.mean_loss(),
            accuracy: Some(t.accuracy()),
            figures: Figures::new(),
            per_output: Vec::new(),
        });
    }
    let outputs = backend.outputs_async(kind).await?;
    Ok(score_outputs(head, &outputs, data.split(kind)))
}

/// The figures of `outputs` (the network's, split.len() × outputs) against
/// `split`'s targets.
pub fn score_outputs(head: &Head, outputs: &[f32], split: &Split) -> SplitScores {
    let n = split.len();
    let width = outputs.len() / n.max(1);
    let loss = mean_loss(head, outputs, split, width);
    let (accuracy, (figures, per_output)) = match (&split.targets, head.task) {
        (Targets::Values { values, .. }, Task::Regress) => {
            let predicted: Vec<f64> = outputs
                .chunks_exact(width)
                .flat_map(|z| (0..width).map(|j| head.to_target_units(j, z[j]) as f64))
                .collect();
            (None, regression_figures(&predicted, values, width))
        }
        (Targets::Values { values, .. }, _) => {
            let decisions = decide(head, outputs);
            let truth: Vec<bool> = values.iter().map(|&v| v > 0.5).collect();
            multilabel_figures(&decisions, &truth, width)
        }
        (Targets::Classes(labels), _) => {
            let decisions = decide(head, outputs);
            let truth: Vec<bool> = labels.iter().map(|&c| c == 1).collect();
            let (accuracy, figures) = binary_figures(&decisions, &truth, outputs);
            (accuracy, (figures, Vec::new()))
        }
    };
    SplitScores {
        loss,
        accuracy,
        figures,
        per_output,
    }
}

/// The mean (unweighted) loss, through the CPU's loss head in f64.
fn mean_loss(head: &Head, outputs: &[f32], split: &Split, width: usize) -> f64 {
    let words = TargetWords::new(split, head, false);
    let logits: Vec<f64> = outputs.iter().map(|&z| z as f64).collect();
    let mut scratch = vec![0.0f64; logits.len()];
    let n = split.len();
    let totals = head_forward_backward(head, &logits, words.batch(0..n), width, n, &mut scratch);
    totals.loss_sum / n.max(1) as f64
}

/// Each output's decision: its logit above the head's threshold.
fn decide(head: &Head, outputs: &[f32]) -> Vec<bool> {
    let t = head.threshold_logit();
    outputs.iter().map(|&z| z > t).collect()
}

/// RMSE, MAE and R² (the mean over outputs, scikit-learn's: an output whose
/// targets do not vary scores 1 if predicted exactly, else 0), and each output's R².
fn regression_figures(predicted: &[f64], targets: &[f32], width: usize) -> (Figures, Vec<f64>) {
    let n = (targets.len() / width.max(1)).max(1) as f64;
    let (mut se, mut ae) = (0.0, 0.0);
    let mut r2 = Vec::with_capacity(width);
    for j in 0..width {
        let column = targets.iter().skip(j).step_by(width).map(|&y| y as f64);
        let mean = column.clone().sum::<f64>() / n;
        let (mut ss_res, mut ss_tot) = (0.0, 0.0);
        for (y, &p) in column.zip(predicted.iter().skip(j).step_by(width)) {
            ss_res += (y - p) * (y - p);
            ss_tot += (y - mean) * (y - mean);
            ae += (y - p).abs();
        }
        se += ss_res;
        r2.push(match (ss_tot > 0.0, ss_res > 0.0) {
            (true, _) => 1.0 - ss_res / ss_tot,
            (false, false) => 1.0,
            (false, true) => 0.0,
        });
    }
    let count = n * width as f64;
    let figures = vec![
        (Figure::Rmse, (se / count).sqrt()),
        (Figure::Mae, ae / count),
        (Figure::R2, r2.iter().sum::<f64>() / width as f64),
    ];
    (figures, r2)
}

/// Counts of (true positive, false positive, false negative).
fn confusion(decisions: impl Iterator<Item = (bool, bool)>) -> (f64, f64, f64) {
    decisions.fold((0.0, 0.0, 0.0), |(tp, fp, fnn), (d, t)| match (d, t) {
        (true, true) => (tp + 1.0, fp, fnn),
        (true, false) => (tp, fp + 1.0, fnn),
        (false, true) => (tp, fp, fnn + 1.0),
        (false, false) => (tp, fp, fnn),
    })
}

/// F1 from the counts; 0 where nothing is positive either way (scikit-learn's
/// `zero_division=0`).
fn f1((tp, fp, fnn): (f64, f64, f64)) -> f64 {
    match tp + fp + fnn > 0.0 {
        true => 2.0 * tp / (2.0 * tp + fp + fnn),
        false => 0.0,
    }
}

/// Accuracy, precision, recall, F1 and ROC AUC of one output.
fn binary_figures(decisions: &[bool], truth: &[bool], scores: &[f32]) -> (Option<f64>, Figures) {
    let n = truth.len().max(1) as f64;
    let right = decisions.iter().zip(truth).filter(|(d, t)| d == t).count();
    let counts = confusion(decisions.iter().copied().zip(truth.iter().copied()));
    let (tp, fp, fnn) = counts;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let figures = vec![
        (Figure::Precision, ratio(tp, tp + fp)),
        (Figure::Recall, ratio(tp, tp + fnn)),
        (Figure::F1, f1(counts)),
        (Figure::Auc, roc_auc(scores, truth)),
    ];
    (Some(right as f64 / n), figures)
}

/// The area under the ROC curve: the chance that a positive example scores above
/// a negative one, ties counting half (the Mann–Whitney U over average ranks);
/// NaN where a class is missing.
pub fn roc_auc(scores: &[f32], truth: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j + 2) as f64 / 2.0;
        rank_sum += order[i..=j].iter().filter(|&&k| truth[k]).count() as f64 * rank;
        i = j + 1;
    }
    let pos = truth.iter().filter(|&&t| t).count() as f64;
    let neg = truth.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Subset accuracy, Hamming loss, micro and macro F1 over `width` labels, and
/// each label's F1.
fn multilabel_figures(
    decisions: &[bool],
    truth: &[bool],
    width: usize,
) -> (Option<f64>, (Figures, Vec<f64>)) {
    let rows = decisions.chunks_exact(width).zip(truth.chunks_exact(width));
    let n = (truth.len() / width.max(1)).max(1) as f64;
    let exact = rows.filter(|(d, t)| d == t).count() as f64;
    let wrong = decisions.iter().zip(truth).filter(|(d, t)| d != t).count() as f64;
    let pairs = || decisions.iter().copied().zip(truth.iter().copied());
    let micro = f1(confusion(pairs()));
    let per_label: Vec<f64> = (0..width)
        .map(|j| f1(confusion(pairs().skip(j).step_by(width))))
        .collect();
    let figures = vec![
        (Figure::HammingLoss, wrong / (n * width as f64)),
        (Figure::MicroF1, micro),
        (
            Figure::MacroF1,
            per_label.iter().sum::<f64>() / width as f64,
        ),
    ];
    (Some(exact / n), (figures, per_label))
}

/// The figures a task reports (beyond loss and accuracy), in order.
pub fn figures_of(task: Task) -> &'static [Figure] {
    match task {
        Task::Classify => &[],
        Task::Binary => &[Figure::Precision, Figure::Recall, Figure::F1, Figure::Auc],
        Task::Multilabel => &[Figure::HammingLoss, Figure::MicroF1, Figure::MacroF1],
        Task::Regress => &[Figure::Rmse, Figure::Mae, Figure::R2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half() {
        let truth = [false, true, false, true];
        assert_eq!(roc_auc(&[0.1, 0.9, 0.2, 0.8], &truth), 1.0);
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &truth), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.1, 0.8, 0.2], &truth), 0.0);
    }

    #[test]
    fn r2_is_one_for_a_perfect_fit_and_zero_for_the_mean() {
        let y = [1.0f32, 2.0, 3.0, 4.0];
        let exact: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        assert_eq!(regression_figures(&exact, &y, 1).0[2].1, 1.0);
        assert_eq!(regression_figures(&[2.5; 4], &y, 1).0[2].1, 0.0);
    }

    #[test]
    fn f1_of_perfect_and_empty_predictions() {
        assert_eq!(f1((3.0, 0.0, 0.0)), 1.0);
        assert_eq!(f1((0.0, 0.0, 0.0)), 0.0);
        assert_eq!(f1((1.0, 1.0, 0.0)), 2.0 / 3.0);
    }
}
