"""Drawing a clip table's splits (paper 3.1): sensors, same-sensor view pairs, downstream.

The multi-view stage splits the *sensors* (not the clips) into train / val / held-out
(paper: 39 / 5 / 12 of 56) so that the model is evaluated on unseen recording
locations (:func:`split_sensors`). A view pair is two *different* clips of the *same*
sensor: the sensor is the shared factor, the clips' sound sources the private one
(:func:`make_pairs`). Downstream evaluation uses only the held-out sensors' clips,
partitioned into train / val / test, stratified by sensor and by source labels
(:func:`downstream_partition`).

Each draw is a pure function of the clip table and a seed (:func:`derive_seed` gives each
step its own). All row indices are *positions* in the clip table (``clips.iloc``).
:mod:`mvlib.data.pairing` puts the draws together into a checked :class:`Splits`.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mvlib.data.labels import label_matrix

SENSOR_SPLITS = ("train", "val", "heldout")
PAIR_SPLITS = ("train", "val", "test")
#: which sensor split each pair split draws from
PAIR_SOURCE = {"train": "train", "val": "val", "test": "heldout"}
DOWNSTREAM_PARTS = ("train", "val", "test")


# --------------------------------------------------------------------------- sensors


def split_sensors(
    sensor_ids: Sequence[str], fractions: Sequence[float], seed: int
) -> dict[str, list[str]]:
    """Split distinct sensors into train / val / held-out.

    Sensors are de-duplicated and sorted (so the input order does not matter), then
    shuffled with ``seed``. Split sizes use largest-remainder rounding of
    ``fraction * n_sensors`` (ties go to the earlier split); a split rounded to zero
    then takes one sensor from the currently largest split, so every split is
    non-empty. 56 sensors with fractions 39/56, 5/56, 12/56 give exactly 39 / 5 / 12.

    Parameters
    ----------
    sensor_ids : sequence of str
        Sensor ids, repeats allowed (e.g. the ``sensor_id`` column).
    fractions : 3 positive floats summing to 1
        Train, val, held-out fractions.
    seed : int

    Returns
    -------
    dict
        ``{"train": [...], "val": [...], "heldout": [...]}``, each sorted.

    Raises
    ------
    ValueError
        Fewer than 3 distinct sensors, or bad fractions.
    """
    frac = _check_fractions(fractions, "sensor_fractions")
    uniq = sorted({str(s) for s in sensor_ids})
    if len(uniq) < 3:
        raise ValueError(
            f"split_sensors: need at least 3 distinct sensors for non-empty train/val/heldout "
            f"splits, got {len(uniq)}: {uniq}"
        )
    counts = _apportion(len(uniq), frac, min_each=True)
    perm = np.random.default_rng(seed).permutation(len(uniq))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {
        name: sorted(uniq[i] for i in perm[bounds[k] : bounds[k + 1]])
        for k, name in enumerate(SENSOR_SPLITS)
    }


# --------------------------------------------------------------------------- pairs


def make_pairs(
    clips: pd.DataFrame,
    sensors: Sequence[str],
    n_pairs: int,
    seed: int,
    sampling: str = "uniform",
) -> np.ndarray:
    """Draw pairs of different clips of the same sensor.

    The candidates are all unordered pairs ``{i, j}``, ``i != j``, of rows sharing a
    sensor in ``sensors``; ``n_pairs`` of them are drawn uniformly *without
    replacement*, so a sensor's expected share is proportional to its number of
    possible pairs ``m (m - 1) / 2``. Nothing O(N^2) is built: a global pair index is
    drawn, mapped to its sensor by the cumulative pair counts, then decoded to
    ``(i, j)`` by triangular numbers. If more pairs are requested than exist, all of
    them are returned (shuffled) with a warning. Each pair's orientation (which clip
    is view 1) is random.

    With ``sampling="balanced"`` every sensor gets the same number of pairs (largest
    remainder of ``n_pairs / n_sensors``; a sensor with fewer possible pairs gives all
    of them and the rest is shared among the others), drawn uniformly without
    replacement within the sensor. SONYC's sensors differ ~10x in clip counts, so uniform
    sampling lets the busiest sensors dominate the shared factor; balancing does not.

    Parameters
    ----------
    clips : DataFrame
        Clip table with a ``sensor_id`` column; rows are addressed by position.
    sensors : sequence of str
        The sensors to draw from (each must occur in ``clips``).
    n_pairs : int
        Requested number of pairs.
    seed : int
    sampling : "uniform" (over all pairs) | "balanced" (the same number per sensor)

    Returns
    -------
    ndarray[P x 2] of int64
        Row positions ``(view 1, view 2)``; ``P = min(n_pairs, available)``.
    """
    if int(n_pairs) != n_pairs or n_pairs < 0:
        raise ValueError(f"make_pairs: n_pairs must be a non-negative integer, got {n_pairs!r}")
    if sampling not in ("uniform", "balanced"):
        raise ValueError(f"make_pairs: sampling must be 'uniform' or 'balanced', not {sampling!r}")
    rng = np.random.default_rng(seed)
    groups = _rows_by_sensor(clips, sensors)  # sorted sensor -> sorted row positions
    sizes = np.array([len(g) for g in groups.values()], dtype=np.int64)
    n_avail = sizes * (sizes - 1) // 2  # distinct unordered pairs per sensor
    total = int(n_avail.sum())
    n = int(n_pairs)
    if n > total:
        warnings.warn(
            f"make_pairs: requested {n} pairs but the {len(sizes)} sensors only have "
            f"{total} distinct same-sensor pairs; returning all {total}",
            stacklevel=2,
        )
        n = total
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if sampling == "uniform":
        flat = rng.choice(total, size=n, replace=False)  # uniform over all distinct pairs
    else:
        quota = _balanced_quota(n_avail, n)  # (S,) pairs per sensor
        offsets0 = np.concatenate([[0], np.cumsum(n_avail)])
        flat = np.concatenate(
            [
                offsets0[k] + rng.choice(int(n_avail[k]), size=int(q), replace=False)
                for k, q in enumerate(quota)
            ]
        )
        flat = flat[rng.permutation(n)]  # sensors interleaved, as in uniform sampling
    offsets = np.concatenate([[0], np.cumsum(n_avail)])
    which = np.searchsorted(offsets, flat, side="right") - 1  # sensor of each pair
    i, j = _triangular_decode(flat - offsets[which])
    rows = [np.asarray(g, dtype=np.int64) for g in groups.values()]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    table = np.concatenate(rows)
    a, b = table[starts[which] + i], table[starts[which] + j]
    swap = rng.random(n) < 0.5
    pairs = np.stack([np.where(swap, b, a), np.where(swap, a, b)], axis=1)  # (P, 2)
    return pairs.astype(np.int64)


def _balanced_quota(available: np.ndarray, n: int) -> np.ndarray:
    """Equal pair counts per sensor summing to ``n`` (``n <= available.sum()``).

    Water-filling: sensors that cannot fill an equal share give all their pairs; the
    others share the rest by largest remainder (ties to the earlier sensor).
    """
    quota = np.zeros(len(available), dtype=np.int64)
    left, open_ = n, np.ones(len(available), dtype=bool)
    while left > 0:
        share = left / open_.sum()
        short = open_ & (available - quota <= share)
        if short.any():  # these sensors give everything they have
            left -= int((available[short] - quota[short]).sum())
            quota[short] = available[short]
            open_ &= ~short
            continue
        idx = np.flatnonzero(open_)
        quota[idx] += _apportion(left, np.full(len(idx), 1.0 / len(idx)), min_each=False)
        left = 0
    assert quota.sum() == n and np.all(quota <= available), f"bad quota {quota} for {n}"
    return quota


def _triangular_decode(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map pair index ``t`` to ``(i, j)``, ``0 <= i < j``, in the order (0,1), (0,2), (1,2), ...

    ``j`` is the largest integer with ``j (j - 1) / 2 <= t``; the float square root is
    corrected by integer steps so large indices stay exact.
    """
    t = np.asarray(t, dtype=np.int64)
    j = np.floor((1.0 + np.sqrt(1.0 + 8.0 * t.astype(np.float64))) / 2.0).astype(np.int64)
    j = np.where(j * (j - 1) // 2 > t, j - 1, j)
    j = np.where((j + 1) * j // 2 <= t, j + 1, j)
    i = t - j * (j - 1) // 2
    assert np.all((0 <= i) & (i < j)), "triangular decoding out of range"
    return i, j


# --------------------------------------------------------------------------- downstream


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
    frac = _check_fractions(fractions, "downstream_fractions")
    labels = label_matrix(clips, "source").astype(bool)  # (N, 8)
    labelled = labelled_mask(clips)  # (N,)
    rng = np.random.default_rng(seed)
    out = np.full(len(clips), "", dtype=object)
    carry = np.zeros((len(DOWNSTREAM_PARTS), labels.shape[1]))  # (K, L) label shortfall so far
    for sensor, rows in _rows_by_sensor(clips, heldout_sensors).items():
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
        targets = _apportion(m, frac, min_each=m >= 3)
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


# --------------------------------------------------------------------------- helpers


def _check_fractions(fractions: Sequence[float], name: str) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"{name}: expected 3 positive fractions, got {list(fractions)}")
    if abs(f.sum() - 1.0) > 1e-3:
        raise ValueError(f"{name}: fractions {list(fractions)} sum to {f.sum():.4f}, expected 1")
    return f / f.sum()


def _apportion(n: int, fractions: np.ndarray, min_each: bool) -> np.ndarray:
    """Largest-remainder rounding of ``fractions * n`` to integers summing to ``n``.

    Ties go to the earlier entry. With ``min_each`` (needs ``n >= len(fractions)``),
    an entry rounded to 0 takes one from the currently largest entry.
    """
    quota = np.round(fractions * n, 9)  # so that 39/56 * 56 is 39, not 38.999...
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    if min_each:
        assert n >= len(counts), f"cannot give each of {len(counts)} parts one of {n}"
        for k in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[k] += 1
    assert int(counts.sum()) == n and np.all(counts >= 0), f"bad apportionment {counts}"
    return counts


def derive_seed(seed: int, tag: str) -> int:
    """An independent, stable seed per step (CRC32 of the tag keys the seed sequence)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(tag.encode())]).generate_state(1)[0])


def validate_clips(clips: pd.DataFrame) -> None:
    """A clip table with ``clip_id`` and ``sensor_id`` in every row, clip ids distinct."""
    for col in ("clip_id", "sensor_id"):
        if col not in clips.columns:
            raise ValueError(f"clip table: missing column {col!r}; have {list(clips.columns)}")
        null = np.flatnonzero(clips[col].isna().to_numpy())
        if len(null):
            raise ValueError(f"clip table: column {col!r} is empty at row {null[0]}")
    dup = clips["clip_id"].astype(str).duplicated()
    if dup.any():
        k = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"clip table: clip_id {clips['clip_id'].iloc[k]!r} repeats at row {k}")


def sensor_column(clips: pd.DataFrame) -> np.ndarray:
    """The ``sensor_id`` of each clip as text: ``object[N]``."""
    if "sensor_id" not in clips.columns:
        raise ValueError(f"clip table: missing column 'sensor_id'; have {list(clips.columns)}")
    return clips["sensor_id"].astype(str).to_numpy(dtype=object)


def _rows_by_sensor(clips: pd.DataFrame, sensors: Sequence[str]) -> dict[str, np.ndarray]:
    """Sorted sensor id -> sorted row positions; every sensor must occur in ``clips``."""
    sens = sensor_column(clips)
    wanted = sorted({str(s) for s in sensors})
    codes, uniq = pd.factorize(sens, sort=True)
    where = {s: k for k, s in enumerate(uniq)}
    absent = [s for s in wanted if s not in where]
    if absent:
        raise ValueError(f"clip table: no clips for sensor(s) {absent}")
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    return {s: order[bounds[where[s]] : bounds[where[s] + 1]] for s in wanted}


def labelled_mask(clips: pd.DataFrame) -> np.ndarray:
    """bool[N]: clips with a usable label (column ``labelled``; all True without it)."""
    if "labelled" not in clips.columns:
        return np.ones(len(clips), dtype=bool)
    return clips["labelled"].to_numpy().astype(bool)


def balanced_subset(clips: pd.DataFrame, sensors: Sequence[str], n: int) -> pd.DataFrame:
    """About ``n`` clips spread evenly over ``sensors`` (the first ones of each, table order).

    Used where only a few clips can be afforded (random-init DAC extraction) but every
    sensor must appear several times, so that sensor and source probes are possible.
    """
    sensors = [str(s) for s in sensors]
    assert sensors, "balanced_subset: no sensors given"
    per = max(1, n // len(sensors))
    sub = clips[clips["sensor_id"].astype(str).isin(sensors)]
    return sub.groupby(sub["sensor_id"].astype(str), sort=False).head(per)
