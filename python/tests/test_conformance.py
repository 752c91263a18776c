"""scikit-learn's own estimator checks over both estimators. Every exemption
is a documented limit (python/README.md, "Limits")."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gpu_mlp import MLPClassifier, MLPRegressor

# Mini-batch training visits examples in batches: a weight of 2 is one example
# counted twice in its batch, not two examples in two batches, so a weighted fit
# equals a fit on repeated rows in expectation, not in bits.
SAMPLE_WEIGHT_IS_NOT_REPETITION = (
    "a weighted mini-batch step differs from steps over repeated rows (different "
    "batches); weights are exact in expectation, not bit for bit"
)


def expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_IS_NOT_REPETITION,
    }


@parametrize_with_checks(
    [MLPClassifier(device="cpu"), MLPRegressor(device="cpu")],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)
