"""Fitting, selecting and scoring probes: the probe API of paper 3.4.

One probe is fitted per (feature set, task): "source" is 8-class multi-label (BCE, scored
by sample Jaccard), "sensor" is multi-class (CE, scored by accuracy). Features are
standardised with TRAINING statistics only. For each weight decay of
``ProbeConfig.weight_decays`` a fresh head is trained with AdamW; the epoch and weight decay
with the best validation score (ties: lower validation loss) are kept, as hear-eval-kit
selects its grid on validation. The test partition is scored once, by the selected head.

All heads fitted on the same rows train at once (:mod:`mvlib.evaluate.probe.heads`); each
follows the protocol above exactly as if trained alone (``tests/evaluate/test_probe.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from mvlib.core.config import ProbeConfig
from mvlib.evaluate.metrics import (
    EMPTY_CLIP_JACCARD,
    accuracy,
    binarize,
    dcase_metrics,
    dsc_priv,
    dsc_shared,
    f1_macro,
    jaccard_per_sample,
    jaccard_samples,
)
from mvlib.evaluate.probe.heads import MLPProbe, num_threads, train_heads

__all__ = [
    "PROBE_TASKS",
    "PARTITIONS",
    "FittedProbe",
    "check_labels",
    "fit_probe",
    "fit_probes",
    "prepare_heads",
    "fit_tasks",
    "evaluate_probe",
    "per_clip_outputs",
    "probe_features",
]

PROBE_TASKS = ("source", "sensor")  #: the downstream tasks every probe is fitted for
PARTITIONS = ("train", "val", "test", "")  #: a clip's probe partition ("": not used)
_STD_FLOOR = 1e-8  #: features with smaller training spread are only centred


@dataclass
class FittedProbe:
    """A trained probe with its standardisation and model-selection record."""

    task: str
    model: MLPProbe
    mean: np.ndarray  #: ndarray[d] training mean
    std: np.ndarray  #: ndarray[d] training std (1 where the feature is constant)
    n_out: int
    weight_decay: float
    best_epoch: int  #: 1-based epoch of the kept state
    val_score: float  #: validation Jaccard (source) or accuracy (sensor) of the kept state
    val_loss: float
    history: dict = field(default_factory=dict)  #: {weight_decay: [val score per epoch]}

    def _logits(self, X) -> torch.Tensor:
        X = _check_features("X", X, d=self.mean.shape[0])
        x = torch.from_numpy(((X - self.mean) / self.std).astype(np.float32))
        self.model.eval()
        with torch.no_grad():
            return self.model(x)

    def predict_scores(self, X) -> np.ndarray:
        """Sigmoid (source) or softmax (sensor) probabilities, ndarray[N x n_out]."""
        logits = self._logits(X)
        probs = torch.sigmoid(logits) if self.task == "source" else torch.softmax(logits, dim=1)
        return probs.double().numpy()

    def predict(self, X) -> np.ndarray:
        """Source: ndarray[N x 8] of 0/1 (threshold 0.5); sensor: ndarray[N] class codes."""
        scores = self.predict_scores(X)
        return binarize(scores, 0.5) if self.task == "source" else scores.argmax(axis=1)


# --------------------------------------------------------------------------- validation


def _check_task(task: str) -> None:
    if task not in PROBE_TASKS:
        raise ValueError(f"task must be one of {PROBE_TASKS}, got {task!r}")


def _check_features(name: str, X, d: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array [N x d], got shape {X.shape}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name}: expected {d} feature columns, got {X.shape[1]}")
    if not np.isfinite(X).all():
        row = int(np.nonzero(~np.isfinite(X).all(axis=1))[0][0])
        raise ValueError(f"{name}: non-finite feature value in row {row}")
    return X


def check_labels(name: str, y, task: str, n: int, n_out: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if task == "source":
        if y.ndim != 2 or y.shape[0] != n:
            raise ValueError(f"{name}: expected source labels [{n} x C], got shape {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name}: source labels must be 0/1, found {np.unique(y)[:5]}")
        if n_out is not None and y.shape[1] != n_out:
            raise ValueError(f"{name}: expected {n_out} label columns, got {y.shape[1]}")
        return y.astype(np.float32)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name}: expected sensor codes of shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"{name}: sensor labels must be non-negative int codes, got {y.dtype}")
    if n_out is not None and y.max() >= n_out:
        raise ValueError(f"{name}: sensor code {int(y.max())} >= n_classes={n_out}")
    return y.astype(np.int64)


def _standardise(X_tr: np.ndarray, X_va: np.ndarray):
    """Training mean/std (std 1 where constant) and the standardised float32 tensors."""
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std = np.where(std > _STD_FLOOR, std, 1.0)  # constant features: centre only
    to_t = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32))  # noqa: E731
    return mean, std, to_t(X_tr), to_t(X_va)


def fit_probes(
    features: dict,
    y_train,
    y_val,
    task: str,
    cfg: ProbeConfig,
    progress: bool = False,
    n_classes: int | None = None,
    threads: int | None = 1,
) -> dict:
    """Fit one probe per feature set on the same rows, all heads trained at once.

    Every (feature set, weight decay) head is one slice of a batched module (see
    :func:`mvlib.evaluate.probe.heads.train_heads`); per feature set, the weight decay with the best validation
    score (ties: lower validation loss; first in ``cfg.weight_decays`` order) is kept.
    A feature set's probe is the one :func:`fit_probe` gives for it alone (same epochs,
    scores and selection; weights equal up to float rounding where widths differ).

    Parameters
    ----------
    features : dict[str, (ndarray[N_train x d], ndarray[N_val x d])]
        Training and validation features of each feature set (d may differ between sets).
    y_train, y_val, task, cfg, progress, n_classes, threads
        As :func:`fit_probe`.

    Returns
    -------
    dict[str, FittedProbe]
        In the order of ``features``. Deterministic for a given ``cfg.seed`` on CPU; the
        global torch RNG is left as it was.
    """
    _check_task(task)
    if not features:
        raise ValueError("fit_probes: no feature sets given")
    if not cfg.weight_decays:
        raise ValueError("ProbeConfig.weight_decays: expected at least one weight decay")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"ProbeConfig: epochs and batch_size must be >= 1, got {cfg}")
    prepared = prepare_heads(features, y_train, y_val, task, n_classes)
    return fit_tasks({task: prepared}, cfg, progress, threads)[task]


def prepare_heads(features: dict, y_train, y_val, task: str, n_classes) -> tuple:
    """Checked labels and standardised inputs of one task's feature sets.

    Returns (standardised {name: (mean, std, x_train, x_val)}, y_train, y_val, n_out).
    """
    std, y_tr, y_va, n_out = {}, None, None, None
    for name, (X_train, X_val) in features.items():
        sfx = "" if len(features) == 1 else f"[{name!r}]"
        X_tr = _check_features(f"X_train{sfx}", X_train)
        X_va = _check_features(f"X_val{sfx}", X_val, d=X_tr.shape[1])
        if y_tr is None:
            y_tr = check_labels("y_train", y_train, task, X_tr.shape[0])
            n_out = y_tr.shape[1] if task == "source" else n_classes
            y_va = check_labels("y_val", y_val, task, X_va.shape[0], n_out)
            if task == "sensor":
                n_out = n_out or int(max(y_tr.max(), y_va.max())) + 1
                check_labels("y_train", y_tr, task, X_tr.shape[0], n_out)
        if X_tr.shape[0] != y_tr.shape[0] or X_va.shape[0] != y_va.shape[0]:
            raise ValueError(
                f"features[{name!r}]: expected {y_tr.shape[0]} train and {y_va.shape[0]} "
                f"val rows, got {X_tr.shape[0]} and {X_va.shape[0]}"
            )
        std[name] = _standardise(X_tr, X_va)
    return std, y_tr, y_va, n_out


def fit_tasks(prepared: dict, cfg: ProbeConfig, progress, threads) -> dict:
    """Fit every (task, feature set, weight decay) head in one batched loop.

    ``prepared``: task -> :func:`prepare_heads` output; every task's rows must be the same (the
    heads share the batch order). Returns task -> {name: FittedProbe}.
    """
    heads, labels = [], {}
    for task, (std, y_tr, y_va, n_out) in prepared.items():
        labels[task] = (torch.from_numpy(y_tr), torch.from_numpy(y_va), y_va, n_out)
        for _, _, x_tr, x_va in std.values():
            heads += [(task, x_tr, x_va, float(wd)) for wd in cfg.weight_decays]
    with torch.random.fork_rng(devices=[]), num_threads(threads):
        fitted = train_heads(heads, labels, cfg, progress)
        # built inside fork_rng: their (overwritten) init must not draw from the global RNG
        models = {
            (task, name): MLPProbe(st[0].shape[0], labels[task][3], cfg.hidden, cfg.dropout)
            for task, (std, *_) in prepared.items()
            for name, st in std.items()
        }
    out: dict = {}
    it = iter(fitted)
    for task, (std, *_) in prepared.items():
        n_out = labels[task][3]
        for name, (mean, sd, _, _) in std.items():
            best, history = None, {}
            for wd in cfg.weight_decays:  # the heads of this feature set, in grid order
                state, epoch, score, loss, hist = next(it)
                history[float(wd)] = hist
                if best is None or score > best[2] or (score == best[2] and loss < best[3]):
                    best = (state, epoch, score, loss, float(wd))
            state, epoch, score, loss, wd = best
            model = models[task, name]
            model.load_state_dict(state)
            model.eval()
            out.setdefault(task, {})[name] = FittedProbe(
                task, model, mean, sd, n_out, wd, epoch, score, loss, history
            )
    return out


def fit_probe(
    X_train,
    y_train,
    X_val,
    y_val,
    task: str,
    cfg: ProbeConfig,
    progress: bool = False,
    n_classes: int | None = None,
    threads: int | None = 1,
) -> FittedProbe:
    """Fit a 2-layer MLP probe, selecting epoch and weight decay on validation.

    The heads of all weight decays train at once (see :func:`fit_probes`, which fits
    several feature sets on the same rows in one batch).

    Parameters
    ----------
    X_train, X_val : ndarray[N x d]
    y_train, y_val : ndarray[N x C] of 0/1 (task "source") or ndarray[N] int codes ("sensor")
    task : "source" | "sensor"
    cfg : ProbeConfig
    progress : bool
        tqdm over the epochs.
    n_classes : int, optional
        Sensor task only: number of classes (default: largest code in train/val + 1).
    threads : int or None
        torch intra-op threads while fitting (restored afterwards); None keeps torch's
        setting. One thread is much faster for these small matrices on a shared machine
        (multi-threaded tiny matmuls stall on busy cores) and lets the sweep run probes
        in parallel processes.

    Returns
    -------
    FittedProbe
        Deterministic for a given ``cfg.seed`` on CPU; the global torch RNG is left as
        it was.
    """
    return fit_probes(
        {"x": (X_train, X_val)}, y_train, y_val, task, cfg, progress, n_classes, threads
    )["x"]


def evaluate_probe(probe: FittedProbe, X_test, y_test, task: str) -> dict:
    """Score a fitted probe once on the test partition.

    Returns
    -------
    dict
        source: ``jaccard`` (the book's convention: a clip with no true and no predicted
        source scores 1), ``jaccard_empty0`` (sklearn's default: it scores 0), ``n_empty``
        (test clips without any source), ``micro_auprc``, ``macro_auprc``, ``micro_f1``,
        ``class_auprc``, ``n_classes_no_positive``; sensor: ``accuracy``, ``macro_f1``.
        Both add ``val_score``, ``best_epoch``, ``weight_decay`` and ``n_test``.
    """
    _check_task(task)
    if task != probe.task:
        raise ValueError(f"evaluate_probe: probe was fitted for {probe.task!r}, not {task!r}")
    X = _check_features("X_test", X_test, d=probe.mean.shape[0])
    y = check_labels("y_test", y_test, task, X.shape[0], probe.n_out)
    scores = probe.predict_scores(X)
    if task == "source":
        y = y.astype(np.int64)
        pred = binarize(scores, 0.5)
        out = {
            "jaccard": jaccard_samples(y, pred, zero_division=EMPTY_CLIP_JACCARD),
            "jaccard_empty0": jaccard_samples(y, pred, zero_division=0.0),
            "n_empty": int((y.sum(axis=1) == 0).sum()),
            **dcase_metrics(y, scores),
        }
    else:
        pred = scores.argmax(axis=1)
        out = {"accuracy": accuracy(y, pred), "macro_f1": f1_macro(y, pred)}
    out.update(
        val_score=probe.val_score,
        best_epoch=probe.best_epoch,
        weight_decay=probe.weight_decay,
        n_test=int(X.shape[0]),
    )
    return out


def per_clip_outputs(probe: FittedProbe, X, y, task: str) -> dict:
    """Per-clip outputs of a fitted probe on one partition, for paired statistics.

    Returns
    -------
    dict of ndarray[N ...]
        ``scores`` (probabilities, float32 ``[N x C]``) and ``score``: the clip's share of
        the task metric (source: clip Jaccard, book convention; sensor: 1.0 if correct else
        0.0), whose mean is the partition's ``jaccard`` / ``accuracy``. Source adds
        ``jaccard_empty0`` (sklearn's convention).
    """
    _check_task(task)
    X = _check_features("X", X, d=probe.mean.shape[0])
    y = check_labels("y", y, task, X.shape[0], probe.n_out)
    scores = probe.predict_scores(X)
    if task == "source":
        y = y.astype(np.int64)
        pred = binarize(scores, 0.5)
        return {
            "scores": scores.astype(np.float32),
            "score": jaccard_per_sample(y, pred, EMPTY_CLIP_JACCARD),
            "jaccard_empty0": jaccard_per_sample(y, pred, 0.0),
        }
    return {
        "scores": scores.astype(np.float32),
        "score": (scores.argmax(axis=1) == y).astype(np.float64),
    }


# --------------------------------------------------------------------------- feature sets


def _check_partition(partition, n: int) -> np.ndarray:
    part = np.asarray(partition).astype(str)
    if part.shape != (n,):
        raise ValueError(f"partition: expected shape ({n},), got {part.shape}")
    bad = sorted({str(v) for v in np.unique(part)} - set(PARTITIONS))
    if bad:
        raise ValueError(f"partition: unexpected value(s) {bad}; expected one of {PARTITIONS}")
    for name in ("train", "val", "test"):
        if not (part == name).any():
            raise ValueError(f"partition: no row is {name!r}")
    return part


def probe_features(
    features: dict,
    y_source,
    y_sensor,
    partition,
    cfg: ProbeConfig,
    progress: bool = False,
    threads: int | None = 1,
    per_clip: dict | None = None,
) -> dict:
    """Probe every feature set on both tasks: fit on train, select on val, test once.

    Parameters
    ----------
    features : dict[str, ndarray[N x d]]
        e.g. ``{"z_p": ..., "z_s": ..., "joint": ..., "x": ...}`` (row-aligned).
    y_source : ndarray[N x 8] of 0/1
    y_sensor : ndarray[N]
        Sensor ids of any integer or string type; remapped to codes 0..K-1 over the
        labelled rows.
    partition : ndarray[N] of "train" | "val" | "test" | "" ("": not used)
    cfg : ProbeConfig
    progress : bool
        tqdm over the epochs of the batched heads.
    threads : int or None
        See :func:`fit_probe`.
    per_clip : dict, optional
        Filled (when given) with per-clip outputs of each selected head on val and test,
        keyed ``"{name}.{task}.{val|test}.{kind}"`` (see :func:`per_clip_outputs`), plus
        ``"sensor_classes"`` (the sensor ids of the codes). Rows follow the input order
        within each partition.

    Returns
    -------
    dict
        ``{name: {"source": metrics, "sensor": metrics}}`` (see :func:`evaluate_probe`),
        plus ``"dsc": {"dsc_priv", "dsc_shared"}`` (paper eqs. 6, 7, from source Jaccard
        and sensor accuracy) when both "z_p" and "z_s" are present.
    """
    if not features:
        raise ValueError("probe_features: no feature sets given")
    if "dsc" in features:
        raise ValueError("probe_features: 'dsc' is reserved for the DSCΔ entry")
    n = np.asarray(next(iter(features.values()))).shape[0]
    part = _check_partition(partition, n)
    labels, classes = _probe_labels(y_source, y_sensor, part, n)
    rows = {name: part == name for name in ("train", "val", "test")}
    Xs = _check_feature_sets(features, n)
    results: dict = {name: {} for name in features}
    tr, va, te = rows["train"], rows["val"], rows["test"]
    # every (task, feature set, weight decay) head trains at once, in one batched loop
    split = {name: (X[tr], X[va]) for name, X in Xs.items()}
    prepared = {
        task: prepare_heads(
            split,
            labels[task][tr],
            labels[task][va],
            task,
            len(classes) if task == "sensor" else None,
        )
        for task in PROBE_TASKS
    }
    fitted = fit_tasks(prepared, cfg, progress, threads)
    for task in PROBE_TASKS:
        y = labels[task]
        for name, probe in fitted[task].items():
            X = Xs[name]
            results[name][task] = evaluate_probe(probe, X[te], y[te], task)
            if per_clip is not None:
                _add_per_clip(per_clip, f"{name}.{task}", probe, X, y, task, va, te)
    if per_clip is not None:
        per_clip["sensor_classes"] = classes.astype(str)
    if "z_p" in features and "z_s" in features:
        results["dsc"] = _dsc_entry(results)
    return results


def _probe_labels(y_source, y_sensor, part: np.ndarray, n: int) -> tuple[dict, np.ndarray]:
    """Checked labels ``{"source": 0/1 [N x 8], "sensor": codes [N]}`` and the sensor classes."""
    y_src = check_labels("y_source", y_source, "source", n).astype(np.int64)
    y_sen = np.asarray(y_sensor)
    if y_sen.shape != (n,):
        raise ValueError(f"y_sensor: expected shape ({n},), got {y_sen.shape}")
    used = part != ""
    classes = np.unique(y_sen[used])
    codes = np.searchsorted(classes, y_sen)  # codes of unused rows are never read
    return {"source": y_src, "sensor": codes}, classes


def _check_feature_sets(features: dict, n: int) -> dict[str, np.ndarray]:
    """Each feature set checked (:func:`_check_features`) and required to have ``n`` rows."""
    Xs = {}
    for name in features:
        X = _check_features(f"features[{name!r}]", features[name])
        if X.shape[0] != n:
            raise ValueError(f"features[{name!r}]: expected {n} rows, got {X.shape[0]}")
        Xs[name] = X
    return Xs


def _add_per_clip(per_clip: dict, prefix: str, probe, X, y, task: str, va, te) -> None:
    """Store a head's per-clip outputs on val and test as ``"{prefix}.{val|test}.{kind}"``."""
    for pname, rows_ in (("val", va), ("test", te)):
        for kind, arr in per_clip_outputs(probe, X[rows_], y[rows_], task).items():
            per_clip[f"{prefix}.{pname}.{kind}"] = arr


def _dsc_entry(results: dict) -> dict:
    """DSCΔ (paper eqs. 6, 7) from z_p's and z_s's source Jaccard and sensor accuracy."""
    return {
        "dsc_priv": dsc_priv(
            results["z_p"]["source"]["jaccard"], results["z_s"]["source"]["jaccard"]
        ),
        "dsc_shared": dsc_shared(
            results["z_s"]["sensor"]["accuracy"], results["z_p"]["sensor"]["accuracy"]
        ),
    }
