"""Sensor-disjoint splits, same-sensor view pairs and downstream partitions (paper 3.1).

The multi-view stage splits the *sensors* (not the clips) into train / val / held-out
(paper: 39 / 5 / 12 of 56) so that the model is evaluated on unseen recording
locations. A view pair is two *different* clips of the *same* sensor: the sensor is
the shared factor, the clips' sound sources the private one. Pairs are drawn for
train (train sensors), val (val sensors) and test (held-out sensors).

Downstream evaluation uses only the held-out sensors' clips, partitioned into
train / val / test, stratified by sensor and by source labels: this gives the
8-class multi-label source task and the n-sensor (paper: 12) classification task.

All row indices are *positions* in the clip table (``clips.iloc``), which must be
the same table (same ``clip_id`` order) whenever a :class:`Splits` is applied.
"""

from __future__ import annotations

import json
import os
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mvlib.core.cache import atomic_write_json
from mvlib.core.config import SplitConfig
from mvlib.core.errors import MvlibError
from mvlib.data.taxonomy import coarse_label_columns

SENSOR_SPLITS = ("train", "val", "heldout")
PAIR_SPLITS = ("train", "val", "test")
#: which sensor split each pair split draws from
PAIR_SOURCE = {"train": "train", "val": "val", "test": "heldout"}
DOWNSTREAM_PARTS = ("train", "val", "test")
FORMAT = "mvlib.splits/1"
_MAX_NAMED = 5  #: sensors named in a message


class LeakageError(AssertionError):
    """A split that mixes sensors or clips where it must not (raised even under -O)."""


class SplitsMismatchError(MvlibError):
    """Saved splits that no longer fit the dataset's clip table (the data changed)."""


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
    labels = _label_matrix(clips)  # (N, 8)
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


# --------------------------------------------------------------------------- Splits


@dataclass(frozen=True)
class Splits:
    """Sensor splits, view pairs and downstream partition of one clip table.

    Attributes
    ----------
    sensors : dict
        ``"train"`` / ``"val"`` / ``"heldout"`` -> sorted sensor ids.
    pairs : dict
        ``"train"`` / ``"val"`` / ``"test"`` -> ndarray[P x 2] int64 row positions.
    downstream : ndarray[N] of str
        ``"train"`` / ``"val"`` / ``"test"`` per clip, ``""`` off the held-out sensors.
    clip_ids : tuple of str
        The table's ``clip_id`` column, to check the splits are applied to it.
    seed : int
    """

    sensors: dict
    pairs: dict
    downstream: np.ndarray
    clip_ids: tuple
    seed: int

    def __post_init__(self) -> None:
        # arrays are made read-only so that the frozen dataclass is frozen in fact
        pairs = {}
        for k, v in self.pairs.items():
            a = np.array(v, dtype=np.int64).reshape(-1, 2)  # (P, 2)
            a.flags.writeable = False
            pairs[k] = a
        down = np.array(self.downstream, dtype=str)
        down.flags.writeable = False
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "downstream", down)
        object.__setattr__(self, "sensors", {k: list(v) for k, v in self.sensors.items()})
        object.__setattr__(self, "clip_ids", tuple(str(c) for c in self.clip_ids))
        object.__setattr__(self, "seed", int(self.seed))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Splits):
            return NotImplemented
        return (
            self.sensors == other.sensors
            and self.clip_ids == other.clip_ids
            and self.seed == other.seed
            and self.pairs.keys() == other.pairs.keys()
            and all(np.array_equal(self.pairs[k], other.pairs[k]) for k in self.pairs)
            and np.array_equal(self.downstream, other.downstream)
        )

    __hash__ = None  # mutable-looking containers inside: not hashable

    def to_dict(self) -> dict:
        """JSON-able dict (pairs as lists of ``[i, j]``)."""
        return {
            "format": FORMAT,
            "seed": self.seed,
            "sensors": {k: list(v) for k, v in self.sensors.items()},
            "pairs": {k: v.tolist() for k, v in self.pairs.items()},
            "downstream": self.downstream.tolist(),
            "clip_ids": list(self.clip_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "splits") -> Splits:
        """Inverse of :meth:`to_dict`; ``where`` names the source in error messages."""
        keys = {"format", "seed", "sensors", "pairs", "downstream", "clip_ids"}
        if not isinstance(data, Mapping) or set(data) != keys:
            got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"{where}: expected keys {sorted(keys)}, got {got}")
        if data["format"] != FORMAT:
            raise ValueError(f"{where}: format {data['format']!r}, expected {FORMAT!r}")
        if set(data["sensors"]) != set(SENSOR_SPLITS) or set(data["pairs"]) != set(PAIR_SPLITS):
            raise ValueError(
                f"{where}: sensors keys {sorted(data['sensors'])} / pairs keys "
                f"{sorted(data['pairs'])}, expected {list(SENSOR_SPLITS)} / {list(PAIR_SPLITS)}"
            )
        if len(data["downstream"]) != len(data["clip_ids"]):
            raise ValueError(
                f"{where}: {len(data['downstream'])} downstream entries for "
                f"{len(data['clip_ids'])} clip_ids"
            )
        return cls(
            sensors=data["sensors"],
            pairs=data["pairs"],
            downstream=np.asarray(data["downstream"], dtype=str),
            clip_ids=tuple(data["clip_ids"]),
            seed=data["seed"],
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON, atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Splits:
        """Read a file written by :meth:`save`."""
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from e
        return cls.from_dict(data, where=str(path))

    def summary(self, clips: pd.DataFrame | None = None) -> pd.DataFrame:
        """Sizes per split: sensors, clips, pairs.

        Rows ``mv/train``, ``mv/val``, ``mv/test`` (multi-view; clips = clips of the
        split's sensors when ``clips`` is given, else distinct clips used in its pairs)
        and ``down/train``, ``down/val``, ``down/test`` (downstream; sensors need ``clips``).
        """
        sens = None if clips is None else _sensor_column(clips)
        rows = {}
        for name in PAIR_SPLITS:
            group = self.sensors[PAIR_SOURCE[name]]
            n_clips = (
                int(np.isin(sens, group).sum())
                if sens is not None
                else len(np.unique(self.pairs[name]))
            )
            rows[f"mv/{name}"] = (len(group), n_clips, len(self.pairs[name]))
        for name in DOWNSTREAM_PARTS:
            mask = self.downstream == name
            n_sens = len(np.unique(sens[mask])) if sens is not None else np.nan
            rows[f"down/{name}"] = (n_sens, int(mask.sum()), 0)
        df = pd.DataFrame.from_dict(rows, orient="index", columns=["sensors", "clips", "pairs"])
        df.index.name = "split"
        df["sensors"] = df["sensors"].astype("Int64")  # NaN (no clips given) stays missing
        return df


def make_splits(clips: pd.DataFrame, cfg: SplitConfig) -> Splits:
    """Sensor split, train/val/test pairs and downstream partition from one config.

    Each step draws from its own seed derived from ``cfg.seed`` so that, e.g.,
    changing ``n_pairs`` does not change the downstream partition. The pairs draw from
    ``cfg.pair_seed`` when set (sensors and downstream partition stay those of ``seed``),
    with ``cfg.pair_sampling`` (see :func:`make_pairs`).
    """
    _validate_clips(clips)
    pair_seed = cfg.seed if cfg.pair_seed is None else cfg.pair_seed
    sensors = split_sensors(
        _sensor_column(clips), cfg.sensor_fractions, _derive_seed(cfg.seed, "sensors")
    )
    pairs = {
        name: make_pairs(
            clips,
            sensors[PAIR_SOURCE[name]],
            n,
            _derive_seed(pair_seed, f"pairs/{name}"),
            cfg.pair_sampling,
        )
        for name, n in zip(PAIR_SPLITS, cfg.n_pairs, strict=True)
    }
    _check_pairable(clips, sensors, pairs)
    down = downstream_partition(
        clips, sensors["heldout"], cfg.downstream_fractions, _derive_seed(cfg.seed, "downstream")
    )
    splits = Splits(
        sensors=sensors,
        pairs=pairs,
        downstream=down,
        clip_ids=tuple(clips["clip_id"].astype(str)),
        seed=cfg.seed,
    )
    check_leakage(splits, clips)
    return splits


class UnpairableError(MvlibError):
    """A multi-view split in which no two clips share a sensor: no view pair exists."""


def _check_pairable(clips: pd.DataFrame, sensors: dict, pairs: dict) -> None:
    """Report sensors with a single clip; refuse a train/val split that has no pair at all."""
    counts = pd.Series(_sensor_column(clips)).value_counts()
    singles = sorted(str(s) for s in counts.index[counts.to_numpy() < 2])
    if singles:
        listed = ", ".join(singles[:_MAX_NAMED]) + (" ..." if len(singles) > _MAX_NAMED else "")
        warnings.warn(
            f"make_splits: {len(singles)} sensor(s) with a single clip cannot form a view pair "
            f"(pairs need two clips of one sensor): {listed}",
            stacklevel=3,
        )
    for name in ("train", "val"):
        if len(pairs[name]):
            continue
        group = sensors[PAIR_SOURCE[name]]
        have = ", ".join(f"{s}: {int(counts.get(s, 0))} clip(s)" for s in group[:_MAX_NAMED])
        raise UnpairableError(
            f"{name} sensors",
            f"no view pair: a pair needs two clips of one sensor, and the {name} split's "
            f"sensors have one clip each ({have})",
            "give those sensors more clips, or change split.seed or split.sensor_fractions so "
            "that this split gets sensors with several clips",
        )


# --------------------------------------------------------------------------- checks


def check_leakage(splits: Splits, clips: pd.DataFrame) -> None:
    """Raise :class:`LeakageError` if the splits leak across sensors or do not fit ``clips``.

    Checks: clip_ids match the table; no sensor in two of train / val / held-out;
    each pair's rows exist, differ and share a sensor; train pairs use train sensors,
    val pairs val sensors, test pairs held-out sensors; the downstream partition
    covers exactly the held-out sensors' clips.
    """
    ids = tuple(clips["clip_id"].astype(str))
    if ids != splits.clip_ids:
        n_a, n_b = len(ids), len(splits.clip_ids)
        first = next((k for k in range(min(n_a, n_b)) if ids[k] != splits.clip_ids[k]), None)
        raise LeakageError(
            f"splits were made for another clip table: {n_b} clip_ids vs {n_a} rows"
            + (
                f"; first mismatch at row {first}: {splits.clip_ids[first]!r} vs {ids[first]!r}"
                if first is not None
                else ""
            )
        )
    _check_sensor_sets(splits)
    sens = _sensor_column(clips)
    for name in PAIR_SPLITS:
        _check_pairs(name, splits.pairs[name], sens, set(splits.sensors[PAIR_SOURCE[name]]))
    _check_downstream(splits.downstream, sens, set(splits.sensors["heldout"]), labelled_mask(clips))


def load_checked(path: str | os.PathLike, clips: pd.DataFrame) -> Splits:
    """Reload saved splits and re-check them against the clip table they are applied to.

    Raises
    ------
    SplitsMismatchError
        The file is unreadable, or the splits no longer fit ``clips`` (clips added,
        removed or relabelled since they were made).
    """
    try:
        splits = Splits.load(path)
        check_leakage(splits, clips)
    except (ValueError, LeakageError, KeyError, TypeError) as e:
        raise SplitsMismatchError(
            path,
            "these saved splits do not fit the dataset's current clip table ("
            + " ".join(str(e).split())
            + ")",
            "the dataset changed since the run was made: train a new run on it "
            "(another --run-dir), or restore the dataset as it was",
        ) from e
    return splits


def _check_sensor_sets(splits: Splits) -> None:
    if set(splits.sensors) != set(SENSOR_SPLITS):
        raise LeakageError(f"sensor splits {sorted(splits.sensors)}, expected {SENSOR_SPLITS}")
    for a_i, a in enumerate(SENSOR_SPLITS):
        for b in SENSOR_SPLITS[a_i + 1 :]:
            both = sorted(set(splits.sensors[a]) & set(splits.sensors[b]))
            if both:
                raise LeakageError(f"sensor(s) {both} are in both the {a!r} and {b!r} splits")


def _check_pairs(name: str, pairs: np.ndarray, sens: np.ndarray, allowed: set) -> None:
    n = len(sens)
    bad = np.flatnonzero(((pairs < 0) | (pairs >= n)).any(axis=1))
    if len(bad):
        raise LeakageError(
            f"{name!r} pair {bad[0]} {pairs[bad[0]].tolist()}: row outside 0..{n - 1}"
        )
    same = np.flatnonzero(pairs[:, 0] == pairs[:, 1])
    if len(same):
        raise LeakageError(f"{name!r} pair {same[0]} uses row {pairs[same[0], 0]} twice")
    s1, s2 = sens[pairs[:, 0]], sens[pairs[:, 1]]
    cross = np.flatnonzero(s1 != s2)
    if len(cross):
        k = cross[0]
        raise LeakageError(
            f"{name!r} pair {k} joins rows {pairs[k, 0]} (sensor {s1[k]!r}) and "
            f"{pairs[k, 1]} (sensor {s2[k]!r}) of different sensors"
        )
    outside = np.flatnonzero(~np.isin(s1, list(allowed)))
    if len(outside):
        k = outside[0]
        raise LeakageError(
            f"{name!r} pair {k} uses sensor {s1[k]!r}, which is not in the "
            f"{PAIR_SOURCE[name]!r} sensor split"
        )


def _check_downstream(
    down: np.ndarray, sens: np.ndarray, heldout: set, labelled: np.ndarray | None = None
) -> None:
    if len(down) != len(sens):
        raise LeakageError(f"downstream has {len(down)} entries for {len(sens)} clips")
    unknown = sorted(set(down.tolist()) - {"", *DOWNSTREAM_PARTS})
    if unknown:
        raise LeakageError(f"downstream values {unknown}, expected {DOWNSTREAM_PARTS} or ''")
    is_held = np.isin(sens, list(heldout))
    stray = np.flatnonzero((down != "") & ~is_held)
    if len(stray):
        k = stray[0]
        raise LeakageError(
            f"downstream {str(down[k])!r} clip at row {k} is of sensor {sens[k]!r}, "
            f"which is not a held-out sensor"
        )
    if labelled is None:
        labelled = np.ones(len(sens), dtype=bool)
    unl = np.flatnonzero((down != "") & ~labelled)
    if len(unl):
        k = unl[0]
        raise LeakageError(f"row {k} is unlabelled but in downstream partition {down[k]!r}")
    missing = np.flatnonzero((down == "") & is_held & labelled)
    if len(missing):
        k = missing[0]
        raise LeakageError(f"row {k} of held-out sensor {sens[k]!r} has no downstream partition")


def stratification_report(clips: pd.DataFrame, splits: Splits) -> pd.DataFrame:
    """Per downstream partition: clip count, per-class positive rate, per-sensor clip share.

    Rows ``heldout`` (all held-out clips, the reference) and ``train`` / ``val`` /
    ``test``; columns ``clips``, ``rate/<label>`` and ``share/<sensor>``.
    """
    labels = _label_matrix(clips)
    sens = _sensor_column(clips)
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


def _derive_seed(seed: int, tag: str) -> int:
    """An independent, stable seed per step (CRC32 of the tag keys the seed sequence)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(tag.encode())]).generate_state(1)[0])


def _validate_clips(clips: pd.DataFrame) -> None:
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


def _sensor_column(clips: pd.DataFrame) -> np.ndarray:
    if "sensor_id" not in clips.columns:
        raise ValueError(f"clip table: missing column 'sensor_id'; have {list(clips.columns)}")
    return clips["sensor_id"].astype(str).to_numpy(dtype=object)


def _rows_by_sensor(clips: pd.DataFrame, sensors: Sequence[str]) -> dict[str, np.ndarray]:
    """Sorted sensor id -> sorted row positions; every sensor must occur in ``clips``."""
    sens = _sensor_column(clips)
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


def _label_matrix(clips: pd.DataFrame) -> np.ndarray:
    """bool[N x 8] source labels; raises on a missing column or a value other than 0/1."""
    cols = list(coarse_label_columns())
    missing = [c for c in cols if c not in clips.columns]
    if missing:
        raise ValueError(f"clip table: missing label column(s) {missing}")
    for c in cols:
        v = clips[c].to_numpy()
        bad = np.flatnonzero(~np.isin(v, [0, 1]))
        if len(bad):
            raise ValueError(
                f"clip table: column {c!r} row {bad[0]} is {np.asarray(v[bad[0]]).tolist()!r}, "
                f"expected 0 or 1"
            )
    return clips[cols].to_numpy().astype(bool)


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
