"""No leakage: splits that are sensor-disjoint and fit their clip table, checked when made and reloaded.

:func:`check_leakage` runs on every :class:`~mvlib.data.splits.record.Splits` that
:func:`~mvlib.data.splits.make.make_splits` makes; :func:`load_checked` runs it again on
saved splits, so that a dataset changed since a run was made is refused.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from mvlib.core.errors import MvlibError
from mvlib.data.splits.pairs import PAIR_SOURCE, PAIR_SPLITS
from mvlib.data.splits.partition import DOWNSTREAM_PARTS, labelled_mask
from mvlib.data.splits.record import Splits
from mvlib.data.splits.sensors import SENSOR_SPLITS, sensor_column


class LeakageError(AssertionError):
    """A split that mixes sensors or clips where it must not (raised even under -O)."""


class SplitsMismatchError(MvlibError):
    """Saved splits that do not fit the dataset's clip table (the data changed since)."""


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
        The file is unreadable, or the splits do not fit ``clips`` (clips added,
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
