"""The sensors of a clip table: the sensor-disjoint train / val / held-out split (paper 3.1).

:func:`split_sensors` draws the split from ``split.sensor_fractions``; the model is then
evaluated on sensors (recording locations) it never saw. The clip table's rows are addressed
by position (``clips.iloc``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mvlib.data.splits.counts import apportion, check_fractions

SENSOR_SPLITS = ("train", "val", "heldout")


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
    frac = check_fractions(fractions, "sensor_fractions")
    uniq = sorted({str(s) for s in sensor_ids})
    if len(uniq) < 3:
        raise ValueError(
            f"split_sensors: need at least 3 distinct sensors for non-empty train/val/heldout "
            f"splits, got {len(uniq)}: {uniq}"
        )
    counts = apportion(len(uniq), frac, min_each=True)
    perm = np.random.default_rng(seed).permutation(len(uniq))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {
        name: sorted(uniq[i] for i in perm[bounds[k] : bounds[k + 1]])
        for k, name in enumerate(SENSOR_SPLITS)
    }


# ---------------------------------------------------------------------------  the clip table's sensors


def sensor_column(clips: pd.DataFrame) -> np.ndarray:
    """The ``sensor_id`` of each clip as text: ``object[N]``."""
    if "sensor_id" not in clips.columns:
        raise ValueError(f"clip table: missing column 'sensor_id'; have {list(clips.columns)}")
    return clips["sensor_id"].astype(str).to_numpy(dtype=object)


def rows_by_sensor(clips: pd.DataFrame, sensors: Sequence[str]) -> dict[str, np.ndarray]:
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
