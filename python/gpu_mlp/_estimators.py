"""scikit-learn's MLP estimators over gpu-mlp's trainer.

The classes validate and encode their input as scikit-learn does, translate
their parameters into the library's settings (``_settings``) and call the
extension's ``train`` once per ``fit``; everything that trains runs in Rust with
the GIL released. A fitted estimator holds one ``_core.Net`` (the trained
model), which pickles as the checkpoint file's bytes.
"""

import functools
import inspect
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _core

_ACTIVATIONS = {"logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_NORMALIZE = ("auto", "standard", "unit", "none")
# What a network's last layer computes, by task, in scikit-learn's words.
_OUT_ACTIVATION = {
    "classify": "softmax",
    "binary": "logistic",
    "multilabel": "logistic",
    "regress": "identity",
}


def _atomic(method):
    """A fit that fails or is interrupted (Ctrl-C) leaves every attribute as it
    was before the call: validation, encoding and training all set state."""

    @functools.wraps(method)
    def fit(self, *args, **kwargs):
        before = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return fit


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, training, prediction, files."""

    # Each estimator's __init__ names its parameters (scikit-learn reads them from
    # the signature) and only stores them, through `_store`.

    # -- parameters -------------------------------------------------------------

    def _hidden(self):
        sizes = self.hidden_layer_sizes
        if sizes is None:
            return []
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        try:
            sizes = [int(s) for s in sizes]
        except (TypeError, ValueError):
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r}: expected layer widths "
                "(an int or a sequence of ints; () for no hidden layer)"
            ) from None
        if any(s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be > 0, got {list(sizes)}"
            )
        return sizes

    def _optimizer(self):
        solver = self.solver
        if solver == "lbfgs":
            raise ValueError(
                "solver='lbfgs' is not supported: gpu-mlp trains by mini-batch steps "
                "(solver='adam', 'sgd' or 'adamw')"
            )
        if solver not in ("adam", "sgd", "adamw"):
            raise ValueError(
                f"solver={solver!r}: expected 'adam', 'sgd' or 'adamw'"
            )
        if solver == "sgd":
            return "momentum" if self.momentum > 0 else "sgd"
        return solver

    def _check_params(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation={self.activation!r}: expected 'relu', 'tanh' or 'logistic'"
                " ('identity' is not supported)"
            )
        if self.learning_rate != "constant":
            raise ValueError(
                f"learning_rate={self.learning_rate!r}: only 'constant' is supported "
                "(gpu-mlp has no 'invscaling' or 'adaptive' schedule yet)"
            )
        if self.normalize not in _NORMALIZE:
            raise ValueError(
                f"normalize={self.normalize!r}: expected one of {', '.join(_NORMALIZE)}"
            )
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                "validation_fraction must be in (0, 1), got "
                f"{self.validation_fraction!r}"
            )
        checks = (
            ("learning_rate_init", self.learning_rate_init > 0, "must be > 0"),
            ("momentum", 0 <= self.momentum < 1, "must be in [0, 1)"),
            ("beta_1", 0 <= self.beta_1 < 1, "must be in [0, 1)"),
            ("beta_2", 0 <= self.beta_2 < 1, "must be in [0, 1)"),
            ("epsilon", self.epsilon > 0, "must be > 0"),
            ("tol", self.tol >= 0, "must be >= 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} {rule}, got {getattr(self, name)!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string, got {self.device!r}")

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if not isinstance(self.batch_size, numbers.Integral) or isinstance(
            self.batch_size, bool
        ):
            raise ValueError(
                f"batch_size must be 'auto' or an int, got {self.batch_size!r}"
            )
        if self.batch_size < 1 or self.batch_size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going "
                "to be clipped",
                stacklevel=5,
            )
        return int(np.clip(self.batch_size, 1, n))

    def _settings(self, n, epochs, early_stopping, seed):
        return {
            "hidden": self._hidden(),
            "activation": _ACTIVATIONS[self.activation],
            "optimizer": self._optimizer(),
            "lr": float(self.learning_rate_init),
            "momentum": float(self.momentum) if self.solver == "sgd" else 0.0,
            "beta_1": float(self.beta_1),
            "beta_2": float(self.beta_2),
            "epsilon": float(self.epsilon),
            "weight_decay": float(self.weight_decay),
            "batch_size": self._batch_size(n),
            "epochs": int(epochs),
            "shuffle": bool(self.shuffle),
            "seed": int(seed),
            "dropout": float(self.dropout),
            "loss": self.loss,
            "normalize": None if self.normalize == "auto" else self.normalize,
            "device": self.device,
            "tol": float(self.tol),
            "n_iter_no_change": int(self.n_iter_no_change),
            "early_stopping": bool(early_stopping),
            **self._head_settings(),
        }

    def _head_settings(self):
        return {
            "huber_delta": 1.0,
            "normalize_targets": True,
            "threshold": 0.5,
            "pos_weight": None,
            "class_weight": None,
        }

    # -- training ---------------------------------------------------------------

    def _seed(self):
        """The library's seed: the int itself (``random_state=0`` trains what
        ``gpu-mlp train --seed 0`` trains), else a draw from the RandomState."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state) & (2**64 - 1)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _features(self, X, reset):
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float32, np.float64, np.uint8],
            order="C",
        )
        return _as_features(X)

    def _train(self, X, targets, task, classes, sample_weight, incremental, names):
        """One call into the library: a fresh fit, a warm start or one more epoch."""
        n = X.shape[0]
        if n < 2:
            raise ValueError(
                f"n_samples={n}: training needs at least 2 samples"
            )
        self._check_params()
        warm = hasattr(self, "_net") and (incremental or self.warm_start)
        net = self._net if warm else None
        if net is not None and net.dtype != X.dtype.name:
            X = _cast_to(X, net.dtype)
        weights = _sample_weight(sample_weight, n)
        early = self.early_stopping and not incremental
        seed = self._seed()
        val = (None, None)
        if early:
            split = train_test_split(
                X,
                targets,
                *(() if weights is None else (weights,)),
                random_state=seed,
                test_size=self.validation_fraction,
                stratify=targets if task in ("classify", "binary") else None,
            )
            X, X_val, targets, y_val = split[:4]
            weights = split[4] if weights is not None else None
            val = (X_val, y_val)
        stop = getattr(self, "_stop", None) if warm else None
        stop = stop or {"count": 0, "best_loss": np.inf, "best_score": -np.inf}
        epochs = 1 if incremental else self.max_iter
        settings = self._settings(X.shape[0], epochs, early, seed)
        net, losses, scores, stop, stopped, backend = _core.train(
            X,
            targets,
            task,
            classes,
            settings,
            stop,
            weights,
            val[0],
            val[1],
            names,
            net,
            self._say if self.verbose else None,
        )
        if stopped and self.verbose:
            what = "Validation score" if early else "Training loss"
            print(
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )
        self._keep(net, losses, scores, stop, warm, early, backend, X.shape[0])
        if not stopped and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return self

    def _say(self, epoch, loss, score):
        print(f"Iteration {epoch}, loss = {loss:.8f}")
        if score is not None and self.early_stopping:
            print(f"Validation score: {score:f}")

    def _keep(self, net, losses, scores, stop, warm, early, backend, n):
        """The fitted state, set only once training succeeded (an interrupted or
        failed fit leaves the estimator as it was)."""
        before = list(self.loss_curve_) if warm and hasattr(self, "loss_curve_") else []
        self._net = net
        self._stop = stop or {"count": 0, "best_loss": np.inf, "best_score": -np.inf}
        self.loss_curve_ = before + list(losses)
        self.n_iter_ = len(self.loss_curve_)
        self.t_ = getattr(self, "t_", 0) * warm + len(losses) * n
        self.n_layers_ = len(net.hidden) + 2
        self.n_outputs_ = net.outputs
        self.out_activation_ = _OUT_ACTIVATION[net.task]
        self.device_ = backend
        if early:
            earlier = getattr(self, "validation_scores_", None) if warm else None
            self.validation_scores_ = list(earlier or []) + list(scores)
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None) if stop is None else stop["best_loss"]

    # -- what a fitted network gives ---------------------------------------------

    def _answers(self, X):
        check_is_fitted(self, "_net")
        X = self._features(X, reset=False)
        X = _cast_to(X, self._net.dtype)
        return self._net.answers(X).astype(np.float64)

    @property
    def coefs_(self):
        """Each layer's weights, inputs × outputs (scikit-learn's layout)."""
        check_is_fitted(self, "_net")
        return [w for w, _ in self._net.parameters()]

    @property
    def intercepts_(self):
        """Each layer's biases."""
        check_is_fitted(self, "_net")
        return [b for _, b in self._net.parameters()]

    # -- files ------------------------------------------------------------------

    @classmethod
    def load(cls, path):
        """A fitted estimator from a checkpoint file (``save``, ``gpu-mlp train
        --save``)."""
        est = _from_net(_core.Net.load(str(path)))
        if not isinstance(est, cls):
            raise ValueError(
                f"{path}: a {est._net.task} model, not one for {cls.__name__}"
            )
        return est

    def save(self, path):
        """Writes the model as the safetensors checkpoint ``gpu-mlp train --save``
        writes (``gpu-mlp eval``, ``predict`` and ``export`` read it)."""
        check_is_fitted(self, "_net")
        self._net.save(str(path))

    def to_onnx(self, path):
        """Writes the network as an ONNX model (what ``gpu-mlp export`` writes)."""
        check_is_fitted(self, "_net")
        self._net.to_onnx(str(path))

    def __getstate__(self):
        state = super().__getstate__()
        if "_net" in state:
            state = dict(state)
            state["_net"] = state["_net"].to_bytes()
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_net"), bytes):
            state = dict(state)
            state["_net"] = _core.Net.from_bytes(state["_net"])
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by gpu-mlp (on a GPU through
    wgpu, or its CPU path), with scikit-learn's ``MLPClassifier`` interface.

    Two classes train one logistic output (binary cross-entropy), more a softmax
    (cross-entropy); a 2-D indicator ``y`` trains one logistic output per label.
    The parameters scikit-learn's class has mean the same here, except: ``alpha``
    is absent (``weight_decay`` is PyTorch's L2 term, biases included);
    ``solver='lbfgs'``, ``learning_rate`` other than 'constant' and
    ``activation='identity'`` are refused; ``solver='sgd'`` momentum is PyTorch's
    heavy-ball form, not Nesterov's. gpu-mlp's own: ``weight_decay``, ``dropout``,
    ``loss`` ('cross-entropy', 'softmax-mse', 'bce'), ``normalize`` ('auto':
    bytes ÷ 255, floats standardized with the training data's statistics),
    ``device`` ('auto', 'cpu', 'gpu', a wgpu backend or text of an adapter's
    name), ``threshold`` (binary and multilabel decisions), ``pos_weight`` and
    ``class_weight`` ('balanced' or {class: weight}).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        weight_decay=0.0,
        dropout=0.0,
        loss=None,
        normalize="auto",
        device="auto",
        threshold=0.5,
        pos_weight=None,
        class_weight=None,
    ):
        _store(self, locals())

    @_atomic
    def fit(self, X, y, sample_weight=None):
        """Trains for up to ``max_iter`` epochs (fewer where ``tol`` and
        ``n_iter_no_change`` stop it), continuing the fitted network if
        ``warm_start``."""
        X, y = self._validate(X, y, reset=not (self.warm_start and hasattr(self, "_net")))
        targets, task = self._encode(y, incremental=False, classes=None)
        return self._train(
            X, targets, task, len(self.classes_), sample_weight, False, self._names()
        )

    @_atomic
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing the fitted network (the first
        call needs ``classes``: every class any call will see)."""
        first = not hasattr(self, "_net")
        X, y = self._validate(X, y, reset=first)
        targets, task = self._encode(y, incremental=not first, classes=classes)
        return self._train(
            X, targets, task, len(self.classes_), sample_weight, True, self._names()
        )

    def predict(self, X):
        """The most likely class (binary and multilabel: probability above
        ``threshold``)."""
        p = self._answers(X)
        if self._task == "multilabel":
            return (p > self.threshold).astype(int)
        if self._task == "binary":
            return self.classes_[(p[:, 1] > self.threshold).astype(int)]
        return self.classes_[np.argmax(p, axis=1)]

    def predict_proba(self, X):
        """Class probabilities (multilabel: each label's), in float64, each row
        summing to 1 to float64's rounding (the network's are float32)."""
        p = self._answers(X)
        if self._task == "binary":
            return np.stack([1 - p[:, 1], p[:, 1]], axis=1)
        if self._task == "classify":
            p /= p.sum(axis=1, keepdims=True)
        return p

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _validate(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=[np.float32, np.float64, np.uint8],
            order="C",
            multi_output=True,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return _as_features(X), y

    def _encode(self, y, incremental, classes):
        """Class indices (uint32) or label indicators (float32), and the task;
        sets ``classes_`` on a first fit and checks later ones against it."""
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            labels = np.arange(y.shape[1])
            if incremental or (self.warm_start and hasattr(self, "_net")):
                _same_classes(self.classes_, labels)
            else:
                self.classes_ = labels
            self._task = "multilabel"
            return np.ascontiguousarray(y, dtype=np.float32), "multilabel"
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{kind} targets are not supported")
        if incremental or (self.warm_start and hasattr(self, "_net")):
            if incremental and classes is not None:
                _same_classes(self.classes_, np.unique(classes))
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y has classes not in classes_ {list(self.classes_)}: {list(unseen)}"
                )
        elif classes is not None:
            self.classes_ = np.unique(classes)
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"`classes={list(self.classes_)}` is not the same as on last call "
                    f"to partial_fit, was: {list(unseen)} not in classes"
                )
        else:
            self.classes_ = LabelEncoder().fit(y).classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "the classifier needs samples of at least 2 classes; the data "
                f"contains only one class: {self.classes_[0]!r}"
            )
        self._task = "binary" if len(self.classes_) == 2 else "classify"
        indices = np.searchsorted(self.classes_, y).astype(np.uint32)
        return np.ascontiguousarray(indices), self._task

    def _names(self):
        """The classes' names for the checkpoint (what ``gpu-mlp eval`` prints),
        where each is one non-empty line."""
        names = [str(c) for c in self.classes_]
        if len(set(names)) == len(names) and all(
            n and "\n" not in n and "\r" not in n for n in names
        ):
            return names
        return None

    def _head_settings(self):
        pos_weight = self.pos_weight
        if pos_weight is not None:
            pos_weight = [float(w) for w in np.atleast_1d(pos_weight)]
        return {
            **super()._head_settings(),
            "threshold": float(self.threshold),
            "pos_weight": pos_weight,
            "class_weight": self._class_weight(),
        }

    def _class_weight(self):
        """``class_weight`` in the library's words: 'balanced' or one weight per
        class, in ``classes_`` order (a class the dict leaves out weighs 1)."""
        cw = self.class_weight
        if cw is None or isinstance(cw, str):
            return cw
        if not isinstance(cw, dict):
            raise ValueError(
                f"class_weight must be 'balanced', a dict or None, got {cw!r}"
            )
        unknown = [c for c in cw if c not in set(self.classes_.tolist())]
        if unknown:
            raise ValueError(f"class_weight names classes not in y: {unknown}")
        return ",".join(str(float(cw.get(c, 1.0))) for c in self.classes_.tolist())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by gpu-mlp (on a GPU through
    wgpu, or its CPU path), with scikit-learn's ``MLPRegressor`` interface.

    One or more outputs, each an identity output trained on ½(ŷ − y)² by default
    (``loss``: 'mse', 'mae', 'huber' with ``huber_delta``). Targets are
    standardized with the training data's mean and deviation while training
    (``normalize_targets=True``: the loss curve is in those units), predictions
    come back in the targets' units. Parameters as ``MLPClassifier``'s.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        weight_decay=0.0,
        dropout=0.0,
        loss=None,
        normalize="auto",
        device="auto",
        huber_delta=1.0,
        normalize_targets=True,
    ):
        _store(self, locals())

    @_atomic
    def fit(self, X, y, sample_weight=None):
        """Trains for up to ``max_iter`` epochs (fewer where ``tol`` and
        ``n_iter_no_change`` stop it), continuing the fitted network if
        ``warm_start``."""
        warm = self.warm_start and hasattr(self, "_net")
        X, y = self._validate(X, y, reset=not warm)
        return self._train(X, self._values(y, warm), "regress", y.shape[1], sample_weight, False, None)

    @_atomic
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing the fitted network."""
        first = not hasattr(self, "_net")
        X, y = self._validate(X, y, reset=first)
        return self._train(
            X, self._values(y, not first), "regress", y.shape[1], sample_weight, True, None
        )

    def predict(self, X):
        """The predicted values, in the targets' units (1-D for one output)."""
        y = self._answers(X)
        return y.ravel() if y.shape[1] == 1 else y

    def _validate(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=[np.float32, np.float64, np.uint8],
            order="C",
            multi_output=True,
            y_numeric=True,
        )
        y = np.asarray(y, dtype=np.float64)
        return _as_features(X), (y.reshape(-1, 1) if y.ndim == 1 else y)

    def _values(self, y, warm):
        if warm and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs; the fitted network has {self.n_outputs_}"
            )
        values = y.astype(np.float32)
        if not np.isfinite(values).all():
            raise ValueError("y holds values too large for float32")
        return np.ascontiguousarray(values)

    def _head_settings(self):
        return {
            **super()._head_settings(),
            "huber_delta": float(self.huber_delta),
            "normalize_targets": bool(self.normalize_targets),
        }


def _store(estimator, arguments):
    """What scikit-learn asks of ``__init__``: each parameter of the signature
    stored as the attribute of its name, unchanged, and nothing else."""
    for name in inspect.signature(type(estimator).__init__).parameters:
        if name != "self":
            setattr(estimator, name, arguments[name])


def _as_features(X):
    """Bytes stay bytes (the library scales them ÷ 255); every other dtype
    becomes C-ordered float32, the library's features, with values beyond its
    range refused."""
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X)
    features = np.ascontiguousarray(X, dtype=np.float32)
    if X.dtype != np.float32 and not np.isfinite(features).all():
        raise ValueError("X holds values too large for float32")
    return features


def _cast_to(X, dtype):
    """``X`` as the dtype the network was trained on: bytes read as floats; floats
    for a network of bytes only when they are whole numbers from 0 to 255."""
    if X.dtype.name == dtype:
        return X
    if dtype == "float32":
        return np.ascontiguousarray(X, dtype=np.float32)
    whole = np.all((X >= 0) & (X <= 255) & (X == np.round(X)))
    if not whole:
        raise ValueError(
            "the network was trained on uint8 features; X holds values that are not "
            "whole numbers from 0 to 255"
        )
    return np.ascontiguousarray(X, dtype=np.uint8)


def _sample_weight(sample_weight, n):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(
            f"sample_weight.shape == {w.shape}, expected ({n},)!"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and not negative")
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return np.ascontiguousarray(w, dtype=np.float32)


def _same_classes(fitted, given):
    if not np.array_equal(np.asarray(fitted), np.asarray(given)):
        raise ValueError(
            f"`classes={list(given)}` is not the same as on last call to partial_fit, "
            f"was: {list(fitted)}"
        )


def _from_net(net):
    """The fitted estimator a checkpoint stands for: its network and history;
    the estimator's other parameters are their defaults."""
    activation = {v: k for k, v in _ACTIVATIONS.items()}[net.activation]
    if net.task == "regress":
        est = MLPRegressor(tuple(net.hidden), activation)
    else:
        est = MLPClassifier(tuple(net.hidden), activation, threshold=net.threshold)
        est._task = net.task
        est.classes_ = _classes_of(net)
    est.n_features_in_ = net.inputs
    est._keep(
        net, net.loss_curve, [], None, False, False, "", 0
    )
    return est


def _classes_of(net):
    """A classifier's classes from the checkpoint's names: integers where every
    name is one, else the names; a model without names (or multilabel) counts
    its outputs."""
    names = net.class_names
    count = 2 if net.task == "binary" else net.outputs
    if net.task == "multilabel" or not names or len(names) != count:
        return np.arange(count)
    try:
        return np.array([int(n) for n in names])
    except ValueError:
        return np.array(names, dtype=object)
