"""The Splits of a clip table (paper 3.1): made from a config, saved, reloaded, checked.

A :class:`Splits` records one drawing (:mod:`mvlib.data.sampling`): the sensor-disjoint
train / val / held-out sensors, the same-sensor view pairs of train (train sensors), val
(val sensors) and test (held-out sensors), and the downstream partition of the held-out
sensors' clips. :func:`make_splits` draws it from a :class:`~mvlib.core.config.SplitConfig`;
:func:`check_leakage` proves it sensor-disjoint and fitting its clip table, as it is made
and again whenever it is reloaded (:func:`load_checked`).

All row indices are *positions* in the clip table (``clips.iloc``), which must be
the same table (same ``clip_id`` order) whenever a :class:`Splits` is applied.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mvlib.core.cache import atomic_write_json
from mvlib.core.config import SplitConfig
from mvlib.core.errors import MvlibError
from mvlib.data.labels import label_matrix
from mvlib.data.sampling import (  # noqa: F401 - the draws, importable from here as before
    DOWNSTREAM_PARTS,
    PAIR_SOURCE,
    PAIR_SPLITS,
    SENSOR_SPLITS,
    balanced_subset,
    derive_seed,
    downstream_partition,
    labelled_mask,
    make_pairs,
    sensor_column,
    split_sensors,
    validate_clips,
)
from mvlib.data.taxonomy import coarse_label_columns

FORMAT = "mvlib.splits/1"
_MAX_NAMED = 5  #: sensors named in a message


class LeakageError(AssertionError):
    """A split that mixes sensors or clips where it must not (raised even under -O)."""


class SplitsMismatchError(MvlibError):
    """Saved splits that no longer fit the dataset's clip table (the data changed)."""


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
        sens = None if clips is None else sensor_column(clips)
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
    validate_clips(clips)
    pair_seed = cfg.seed if cfg.pair_seed is None else cfg.pair_seed
    sensors = split_sensors(
        sensor_column(clips), cfg.sensor_fractions, derive_seed(cfg.seed, "sensors")
    )
    pairs = {
        name: make_pairs(
            clips,
            sensors[PAIR_SOURCE[name]],
            n,
            derive_seed(pair_seed, f"pairs/{name}"),
            cfg.pair_sampling,
        )
        for name, n in zip(PAIR_SPLITS, cfg.n_pairs, strict=True)
    }
    _check_pairable(clips, sensors, pairs)
    down = downstream_partition(
        clips, sensors["heldout"], cfg.downstream_fractions, derive_seed(cfg.seed, "downstream")
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
    counts = pd.Series(sensor_column(clips)).value_counts()
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
    sens = sensor_column(clips)
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
