"""View pairs (paper 3.1): two different clips of the same sensor, drawn per split.

The sensor is the pair's shared factor, the clips' sound sources its private one.
:func:`make_pairs` draws ``split.n_pairs`` of them with ``split.pair_sampling``; the train,
val and test pairs come from the train, val and held-out sensors (:data:`PAIR_SOURCE`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mvlib.data.splits.counts import apportion
from mvlib.data.splits.sensors import rows_by_sensor

PAIR_SPLITS = ("train", "val", "test")


#: which sensor split each pair split draws from
PAIR_SOURCE = {"train": "train", "val": "val", "test": "heldout"}


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
    groups = rows_by_sensor(clips, sensors)  # sorted sensor -> sorted row positions
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
    flat = _draw_pair_indices(rng, n_avail, total, n, sampling)
    a, b = _decode_pairs(flat, groups, sizes, n_avail)
    swap = rng.random(n) < 0.5
    pairs = np.stack([np.where(swap, b, a), np.where(swap, a, b)], axis=1)  # (P, 2)
    return pairs.astype(np.int64)


def _draw_pair_indices(
    rng: np.random.Generator, n_avail: np.ndarray, total: int, n: int, sampling: str
) -> np.ndarray:
    """``n`` distinct global pair indices in ``[0, total)``, uniform or balanced per sensor."""
    if sampling == "uniform":
        return rng.choice(total, size=n, replace=False)  # uniform over all distinct pairs
    quota = _balanced_quota(n_avail, n)  # (S,) pairs per sensor
    offsets0 = np.concatenate([[0], np.cumsum(n_avail)])
    flat = np.concatenate(
        [
            offsets0[k] + rng.choice(int(n_avail[k]), size=int(q), replace=False)
            for k, q in enumerate(quota)
        ]
    )
    return flat[rng.permutation(n)]  # sensors interleaved, as in uniform sampling


def _decode_pairs(
    flat: np.ndarray, groups: dict, sizes: np.ndarray, n_avail: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global pair indices -> the row positions ``(a, b)`` of each pair's two clips."""
    offsets = np.concatenate([[0], np.cumsum(n_avail)])
    which = np.searchsorted(offsets, flat, side="right") - 1  # sensor of each pair
    i, j = _triangular_decode(flat - offsets[which])
    rows = [np.asarray(g, dtype=np.int64) for g in groups.values()]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    table = np.concatenate(rows)
    return table[starts[which] + i], table[starts[which] + j]


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
        quota[idx] += apportion(left, np.full(len(idx), 1.0 / len(idx)), min_each=False)
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
