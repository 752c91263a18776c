"""The estimators as scikit-learn users use them: pipelines, searches, label
types, input types, incremental training, determinism, files, the command-line
program reading what Python wrote, the GPU agreeing with the CPU, and a Python
process's manners (the GIL, Ctrl-C, errors, output)."""

import json
import os
import pickle
import signal
import subprocess
import threading
import time
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpu_mlp
from gpu_mlp import MLPClassifier, MLPRegressor

from conftest import gpu_or_skip

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_pipeline_and_score(cancer):
    X, y = cancer
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0, device="cpu"))
    assert pipe.fit(Xtr, ytr).score(Xte, yte) > 0.93


def test_grid_search_two_jobs_and_cross_validation(iris):
    X, y = iris
    grid = GridSearchCV(
        MLPClassifier(max_iter=60, random_state=0, device="cpu"),
        {"hidden_layer_sizes": [(8,), (32,)], "learning_rate_init": [0.01, 0.03]},
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    serial = GridSearchCV(
        MLPClassifier(max_iter=60, random_state=0, device="cpu"),
        grid.param_grid,
        cv=3,
        n_jobs=1,
    ).fit(X, y)
    assert grid.best_params_ == serial.best_params_
    np.testing.assert_array_equal(
        grid.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    scores = cross_val_score(MLPClassifier(random_state=0, device="cpu"), X, y, cv=5)
    assert scores.mean() > 0.9


def test_clone_keeps_parameters_not_state(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=5, dropout=0.1, device="cpu")
    est.fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        twin.predict(X)


def test_transformed_target_regressor(diabetes):
    X, y = diabetes
    model = TransformedTargetRegressor(
        regressor=MLPRegressor(random_state=0, device="cpu"), func=np.log, inverse_func=np.exp
    )
    assert model.fit(X, y).score(X, y) > 0.3
    assert model.predict(X).shape == (len(y),)


def test_string_labels_and_their_probabilities(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = MLPClassifier(random_state=0, device="cpu").fit(X, names)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(est.predict(X)) <= set(est.classes_)
    p = est.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(est.classes_[p.argmax(axis=1)], est.predict(X))
    assert est.score(X, names) > 0.9


def test_binary_is_one_logistic_output(cancer):
    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant")
    est = MLPClassifier(random_state=0, device="cpu").fit(X, labels)
    assert est.out_activation_ == "logistic"
    assert est.coefs_[-1].shape == (100, 1)
    p = est.predict_proba(X)
    assert p.shape == (len(y), 2)
    np.testing.assert_array_equal(est.predict(X), est.classes_[(p[:, 1] > 0.5).astype(int)])
    assert est.score(X, labels) > 0.95


def test_multilabel_indicator_targets(iris):
    X, y = iris
    Y = np.stack([y == 0, y == 2, X[:, 0] > 6], axis=1).astype(int)
    est = MLPClassifier(random_state=0, device="cpu").fit(X, Y)
    assert est.predict(X).shape == Y.shape
    assert est.predict_proba(X).shape == Y.shape
    assert est.score(X, Y) > 0.8


def test_pandas_feature_names(iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    est = MLPClassifier(max_iter=20, random_state=0, device="cpu").fit(frame, pd.Series(y))
    assert list(est.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X)


def test_float64_float32_fortran_and_lists_agree(iris):
    X, y = iris
    est = MLPClassifier(max_iter=30, random_state=0, device="cpu")
    p64 = est.fit(X, y).predict_proba(X)
    p32 = clone(est).fit(X.astype(np.float32), y).predict_proba(X.astype(np.float32))
    pf = clone(est).fit(np.asfortranarray(X), y).predict_proba(np.asfortranarray(X))
    pl = clone(est).fit(X.tolist(), y.tolist()).predict_proba(X.tolist())
    np.testing.assert_array_equal(p64, p32)
    np.testing.assert_array_equal(p64, pf)
    np.testing.assert_array_equal(p64, pl)
    assert p64.dtype == np.float64


def test_uint8_images_train_as_bytes(digits_u8):
    X, y = digits_u8
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    est = MLPClassifier(hidden_layer_sizes=(64,), random_state=0, device="cpu")
    assert est.fit(Xtr, ytr).score(Xte, yte) > 0.93
    assert est._net.dtype == "uint8"
    # The same images as whole floats are read as the bytes they are.
    np.testing.assert_array_equal(est.predict(Xte.astype(np.float64)), est.predict(Xte))
    with pytest.raises(ValueError, match="uint8"):
        est.predict(Xte + 0.5)


def test_partial_fit_is_one_more_epoch(iris):
    X, y = iris
    params = dict(random_state=3, device="cpu", n_iter_no_change=1000, batch_size=32)
    three = MLPClassifier(max_iter=3, **params).fit(X, y)
    three.partial_fit(X, y)
    four = MLPClassifier(max_iter=4, **params).fit(X, y)
    assert three.n_iter_ == four.n_iter_ == 4
    assert three.loss_curve_ == four.loss_curve_
    np.testing.assert_array_equal(three.predict_proba(X), four.predict_proba(X))
    for a, b in zip(three.coefs_, four.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_from_scratch_needs_classes(iris):
    X, y = iris
    est = MLPClassifier(random_state=0, device="cpu")
    est.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    est.partial_fit(X[50:], y[50:])
    assert est.n_iter_ == 2 and list(est.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y + 5)


def test_warm_start_continues(diabetes):
    X, y = diabetes
    est = MLPRegressor(max_iter=5, warm_start=True, random_state=0, device="cpu")
    first = est.fit(X, y).loss_curve_[:]
    est.fit(X, y)
    assert est.n_iter_ == 10 and est.loss_curve_[:5] == first
    cold = MLPRegressor(max_iter=10, random_state=0, device="cpu", n_iter_no_change=100)
    assert cold.fit(X, y).loss_curve_ == est.loss_curve_


def test_random_state_decides_the_model(iris):
    X, y = iris
    a = MLPClassifier(max_iter=20, random_state=7, device="cpu").fit(X, y)
    b = MLPClassifier(max_iter=20, random_state=7, device="cpu").fit(X, y)
    c = MLPClassifier(max_iter=20, random_state=8, device="cpu").fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_early_stopping_keeps_the_best_validation_model(cancer):
    X, y = cancer
    est = MLPClassifier(
        early_stopping=True, n_iter_no_change=5, random_state=0, device="cpu"
    ).fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ == len(est.loss_curve_) < 200
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    # The model kept is the best epoch's: its checkpoint's history ends there.
    assert est._net.epochs_trained == 1 + int(np.argmax(scores))


def test_tol_stops_on_the_training_loss(iris):
    X, y = iris
    est = MLPClassifier(tol=0.5, n_iter_no_change=2, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # scikit-learn's rule: stop once more than n_iter_no_change epochs in a row
    # failed to beat the best loss by tol (the first epoch sets the best).
    assert est.n_iter_ == 2 + 2
    assert est.best_loss_ == min(est.loss_curve_)


def test_sample_weight_zero_rows_do_not_train(iris):
    X, y = iris
    w = np.ones(len(y))
    w[y == 2] = 0
    est = MLPClassifier(random_state=0, device="cpu", max_iter=300).fit(X, y, sample_weight=w)
    assert (est.predict(X[y == 2]) != 2).mean() > 0.9


def test_pickle_joblib_save_and_load(tmp_path, iris):
    X, y = iris
    names = np.array(["a", "b", "c"])[y]
    est = MLPClassifier(max_iter=30, random_state=0, device="cpu").fit(X, names)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    joblib.dump(est, tmp_path / "est.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "est.joblib").predict(X), est.predict(X))
    est.save(tmp_path / "model.safetensors")
    loaded = MLPClassifier.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert list(loaded.classes_) == ["a", "b", "c"] and loaded.n_iter_ == est.n_iter_
    with pytest.raises(ValueError, match="regress|classify"):
        MLPRegressor.load(tmp_path / "model.safetensors")


def test_onnx_export_answers_as_the_estimator(tmp_path, diabetes):
    ort = pytest.importorskip("onnxruntime")
    X, y = diabetes
    est = MLPRegressor(max_iter=40, random_state=0, device="cpu").fit(X, y)
    est.to_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    name = session.get_inputs()[0].name
    (out,) = session.run(["predictions"], {name: X.astype(np.float32)})
    np.testing.assert_allclose(out.ravel(), est.predict(X), rtol=1e-4, atol=1e-3)


def _csv(path, X, y, label="label"):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame[label] = y
    frame.to_csv(path, index=False)


def test_the_binary_evaluates_a_python_classifier(tmp_path, iris, gpu_mlp_bin):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    Xtr, Xte, ytr, yte = train_test_split(X, names, random_state=0, stratify=names)
    est = MLPClassifier(random_state=0, device="cpu").fit(Xtr, ytr)
    est.save(tmp_path / "m.safetensors")
    _csv(tmp_path / "train.csv", Xtr, ytr)
    _csv(tmp_path / "test.csv", Xte, yte)
    out = subprocess.run(
        [gpu_mlp_bin, "eval", "--cpu", "--json", "--model", tmp_path / "m.safetensors",
         "--data", tmp_path / "train.csv", "--test-data", tmp_path / "test.csv"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(out.stdout)
    assert report["accuracy"] == pytest.approx(est.score(Xte, yte), abs=1e-9)
    loss = log_loss(yte, est.predict_proba(Xte), labels=est.classes_)
    assert report["loss"] == pytest.approx(loss, rel=1e-4)


def test_the_binary_evaluates_a_python_regressor(tmp_path, diabetes, gpu_mlp_bin):
    X, y = diabetes
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    est = MLPRegressor(random_state=0, device="cpu").fit(Xtr, ytr)
    est.save(tmp_path / "m.safetensors")
    _csv(tmp_path / "train.csv", Xtr, ytr, "target")
    _csv(tmp_path / "test.csv", Xte, yte, "target")
    out = subprocess.run(
        [gpu_mlp_bin, "eval", "--cpu", "--json", "--model", tmp_path / "m.safetensors",
         "--data", tmp_path / "train.csv", "--test-data", tmp_path / "test.csv"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(out.stdout)
    assert report["figures"]["r2"] == pytest.approx(r2_score(yte, est.predict(Xte)), abs=1e-5)


def test_gpu_gives_the_cpu_figures(iris, diabetes):
    device = gpu_or_skip()
    # 12 epochs: both paths add the same f32 products in different orders, so
    # each epoch's figures agree to rounding (1e-4 relative), as in tests/tasks.rs.
    for est, (X, y) in (
        (MLPClassifier(max_iter=12, batch_size=16, random_state=0), iris),
        (MLPRegressor(max_iter=12, batch_size=32, random_state=0), diabetes),
    ):
        cpu = clone(est).set_params(device="cpu").fit(X, y)
        gpu = clone(est).set_params(device=device).fit(X, y)
        assert not gpu.device_.startswith("cpu"), gpu.device_
        np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
        np.testing.assert_allclose(gpu.score(X, y), cpu.score(X, y), rtol=1e-3)


def test_gil_is_released_while_training(digits_u8):
    X, y = digits_u8
    X = np.repeat(X, 30, axis=0)
    y = np.repeat(y, 30)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    start = time.perf_counter()
    MLPClassifier(max_iter=20, random_state=0, device="cpu", n_iter_no_change=100).fit(X, y)
    took = time.perf_counter() - start
    stop.set()
    t.join()
    during = [s for s in ticks if start < s < start + took]
    assert took > 0.2, "the fit is too short to tell"
    # With the GIL held the other thread would not run at all during the fit.
    assert len(during) > took / 0.005 / 4


def test_ctrl_c_raises_and_leaves_the_estimator_as_it_was(digits_u8):
    X, y = digits_u8
    X = np.repeat(X, 8, axis=0)
    y = np.repeat(y, 8)
    est = MLPClassifier(max_iter=2, random_state=0, device="cpu").fit(X, y)
    before = est.predict_proba(X[:20])
    state = dict(est.__dict__)
    est.set_params(max_iter=10_000, n_iter_no_change=10_000, warm_start=True)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert time.perf_counter() - start < 5
    assert est.n_iter_ == 2 and est._net is state["_net"]
    np.testing.assert_array_equal(est.predict_proba(X[:20]), before)


def test_errors_are_python_exceptions(tmp_path, iris):
    X, y = iris
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        MLPClassifier(learning_rate_init=-1, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(dropout=1.5, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="softmax-mse|loss"):
        MLPClassifier(loss="huber", device="cpu").fit(X, y)
    with pytest.raises(RuntimeError, match="adapter"):
        MLPClassifier(device="no-such-adapter-anywhere", max_iter=1).fit(X, y)
    est = MLPClassifier(max_iter=2, device="cpu").fit(X, y)
    with pytest.raises(OSError):
        est.save(tmp_path / "missing-dir" / "m.safetensors")
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError):
        gpu_mlp.Net.from_bytes(b"not a checkpoint")


def test_a_constant_target_names_normalize_targets(diabetes):
    X, _ = diabetes
    y = np.ones(len(X))
    with pytest.raises(ValueError, match="normalize_targets cannot standardize target 0"):
        MLPRegressor(device="cpu").fit(X, y)
    est = MLPRegressor(normalize_targets=False, random_state=0, device="cpu").fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0] / 10
    assert abs(est.predict(X).mean() - 1) < 0.1


def test_verbose_prints_epochs_and_silence_otherwise(iris, capsys):
    X, y = iris
    MLPClassifier(max_iter=3, device="cpu").fit(X, y)
    assert capsys.readouterr().out == ""
    MLPClassifier(max_iter=3, verbose=True, device="cpu").fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]


def test_threads_are_a_process_setting():
    n = gpu_mlp.threads()
    assert n >= 1
    gpu_mlp.set_threads(n)
    with pytest.raises(ValueError, match="threads"):
        gpu_mlp.set_threads(n + 1)
