"""A grid search distributed by joblib onto a Dask cluster (two worker
processes on 127.0.0.1) picks what the same search picks in one process."""

import os

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from gpu_mlp import MLPClassifier

distributed = pytest.importorskip("dask.distributed")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_grid_search_equals_one_process(cancer):
    import joblib

    X, y = cancer
    grid = {"hidden_layer_sizes": [(16,), (64,)], "learning_rate_init": [0.001, 0.01]}
    estimator = MLPClassifier(max_iter=40, random_state=0, device="cpu")
    local = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    # One CPU thread per worker process: two workers share this machine's cores.
    os.environ["GPU_MLP_THREADS"] = "1"
    try:
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster, distributed.Client(cluster) as client:
            with joblib.parallel_backend("dask"):
                remote = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
            workers = client.run(lambda: os.getpid())
    finally:
        del os.environ["GPU_MLP_THREADS"]
    assert len(workers) == 2 and os.getpid() not in workers.values()
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
