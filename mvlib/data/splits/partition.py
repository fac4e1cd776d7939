"""The downstream partition (paper 3.1): the held-out sensors' labelled clips in train / val / test.

:func:`downstream_partition` draws it from ``split.downstream_fractions``, stratified by
sensor and by source labels; :func:`stratification_report` shows how well.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mvlib.data.labels import label_matrix
from mvlib.data.splits.counts import apportion, check_fractions
from mvlib.data.splits.sensors import rows_by_sensor, sensor_column
from mvlib.data.taxonomy import coarse_label_columns

if TYPE_CHECKING:
    from mvlib.data.splits.record import Splits


DOWNSTREAM_PARTS = ("train", "val", "test")


def labelled_mask(clips: pd.DataFrame) -> np.ndarray:
    """bool[N]: clips with a usable label (column ``labelled``; all True without it)."""
    if "labelled" not in clips.columns:
        return np.ones(len(clips), dtype=bool)
    return clips["labelled"].to_numpy().astype(bool)


def downstream_partition(
    clips: pd.DataFrame, heldout_sensors: Sequence[str], fractions: Sequence[float], seed: int
) -> np.ndarray:
    """Partition the held-out sensors' clips into downstream train / val / test.

    Stratified per sensor, and within a sensor by the 8 source labels with
    *iterative stratification* (Sechidis, Tsoumakas & Vlahavas, ECML-PKDD 2011): the
    rarest remaining label is handled first, each of its clips goes to the partition
    that most lacks that label, ties broken by remaining capacity, then at random.
    One change to the original: each sensor's partition sizes are fixed integers
    (largest-remainder rounding of ``fraction * n_clips``, at least 1 each when the
    sensor has >= 3 clips) and a full partition takes no more clips. Hence every
    held-out sensor with >= 3 clips appears in every partition, and a sensor's count
    in a partition is within 1 of ``fraction * n_clips``. Sensors are handled in
    sorted order and each passes its leftover label shortfall per partition on to the
    next, so small per-sensor imbalances do not add up over sensors (on 12 sensors x
    50 clips the worst per-class rate deviation drops from ~0.05 to ~0.015).

    Parameters
    ----------
    clips : DataFrame
        Clip table with ``sensor_id`` and the 8 label columns of
        :func:`mvlib.data.taxonomy.coarse_label_columns` (0/1).
    heldout_sensors : sequence of str
    fractions : 3 positive floats summing to 1
        Downstream train, val, test fractions.
    seed : int

    Only *labelled* clips are partitioned (column ``labelled``, when the table has it):
    unlabelled clips are views for pairing, never probe data; they get ``""``.

    Returns
    -------
    ndarray[N] of str
        ``"train"``, ``"val"``, ``"test"``; ``""`` for clips of other sensors and
        unlabelled clips.
    """
    frac = check_fractions(fractions, "downstream_fractions")
    labels = label_matrix(clips, "source").astype(bool)  # (N, 8)
    labelled = labelled_mask(clips)  # (N,)
    rng = np.random.default_rng(seed)
    out = np.full(len(clips), "", dtype=object)
    carry = np.zeros((len(DOWNSTREAM_PARTS), labels.shape[1]))  # (K, L) label shortfall so far
    for sensor, rows in rows_by_sensor(clips, heldout_sensors).items():
        n_all = len(rows)
        rows = rows[labelled[rows]]
        m = len(rows)
        unl = f" ({n_all - m} unlabelled clip(s) left out)" if m < n_all else ""
        if m == 0:
            warnings.warn(
                f"downstream_partition: held-out sensor {sensor!r} has no labelled clip{unl}; "
                "it is in no probe partition",
                stacklevel=2,
            )
            continue
        if m < 3:
            warnings.warn(
                f"downstream_partition: held-out sensor {sensor!r} has only {m} clip(s) with a "
                f"label{unl}; it cannot appear in all of {DOWNSTREAM_PARTS}",
                stacklevel=2,
            )
        targets = apportion(m, frac, min_each=m >= 3)
        fold, carry = _iterative_stratify(labels[rows], targets, rng, carry)
        out[rows] = np.asarray(DOWNSTREAM_PARTS, dtype=object)[fold]
    return out.astype(str)


def _iterative_stratify(
    y: np.ndarray, targets: np.ndarray, rng: np.random.Generator, carry: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Assign the rows of ``y`` (bool[m x L]) to folds of exact sizes ``targets`` (int[K]).

    ``carry`` (float[K x L]) is the per-fold label shortfall left by earlier sensors; it
    is added to this sensor's desired counts. Returns int[m] fold numbers and the new
    shortfall. See :func:`downstream_partition` for the method.
    """
    m = y.shape[0]
    assert int(targets.sum()) == m, f"fold sizes {targets} do not sum to {m} rows"
    order = rng.permutation(m)  # random processing order breaks ties between rows
    y = y[order]
    cap = targets.astype(np.float64)
    want = np.outer(targets / max(m, 1), y.sum(axis=0)) + carry  # (K, L) desired positives
    fold = np.full(m, -1, dtype=np.int64)
    free = np.ones(m, dtype=bool)
    while free.any():
        left = y[free].sum(axis=0)
        if left.any():
            lab = int(np.argmin(np.where(left > 0, left, np.iinfo(np.int64).max)))
            todo = np.flatnonzero(free & y[:, lab])
        else:  # only label-free clips remain: fill by capacity
            lab, todo = -1, np.flatnonzero(free)
        for r in todo:
            primary = want[:, lab] if lab >= 0 else cap
            key = np.lexsort((rng.random(len(cap)), cap, primary))  # last key sorts first
            k = next(int(k) for k in key[::-1] if cap[k] > 0)
            fold[r], free[r] = k, False
            cap[k] -= 1
            want[k] -= y[r]
    assert np.all(cap == 0), f"fold sizes not met: {cap} left"
    result = np.empty(m, dtype=np.int64)
    result[order] = fold
    return result, want


# ---------------------------------------------------------------------------  report


def stratification_report(clips: pd.DataFrame, splits: Splits) -> pd.DataFrame:
    """Per downstream partition: clip count, per-class positive rate, per-sensor clip share.

    Rows ``heldout`` (all held-out clips, the reference) and ``train`` / ``val`` /
    ``test``; columns ``clips``, ``rate/<label>`` and ``share/<sensor>``.
    """
    labels = label_matrix(clips, "source").astype(bool)
    sens = sensor_column(clips)
    heldout = splits.sensors["heldout"]
    masks = {"heldout": splits.downstream != ""}
    masks.update({p: splits.downstream == p for p in DOWNSTREAM_PARTS})
    rows = {}
    for name, mask in masks.items():
        n = int(mask.sum())
        row: dict[str, float] = {"clips": n}
        for c, col in enumerate(coarse_label_columns()):
            row[f"rate/{col}"] = labels[mask, c].mean() if n else np.nan
        for s in heldout:
            row[f"share/{s}"] = float((sens[mask] == s).sum()) / n if n else np.nan
        rows[name] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "partition"
    return df
