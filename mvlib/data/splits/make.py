"""Splits from a config: sensors, then pairs, then the downstream partition, then the leakage check.

:func:`make_splits` reads a :class:`~mvlib.core.config.SplitConfig` step by step: the sensor
split (:mod:`~mvlib.data.splits.sensors`), the view pairs (:mod:`~mvlib.data.splits.pairs`),
the downstream partition (:mod:`~mvlib.data.splits.partition`), each from its own seed
(:func:`derive_seed`); the result is a :class:`~mvlib.data.splits.record.Splits`, checked by
:func:`~mvlib.data.splits.leakage.check_leakage` before it is returned.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pandas as pd

from mvlib.core.config import SplitConfig
from mvlib.core.errors import MvlibError
from mvlib.data.splits.leakage import check_leakage
from mvlib.data.splits.pairs import PAIR_SOURCE, PAIR_SPLITS, make_pairs
from mvlib.data.splits.partition import downstream_partition
from mvlib.data.splits.record import Splits
from mvlib.data.splits.sensors import sensor_column, split_sensors

_MAX_NAMED = 5  #: sensors named in a message


def make_splits(clips: pd.DataFrame, cfg: SplitConfig) -> Splits:
    """Sensor split, train/val/test pairs and downstream partition from one config.

    Each step draws from its own seed derived from ``cfg.seed`` so that, e.g.,
    changing ``n_pairs`` does not change the downstream partition. The pairs draw from
    ``cfg.pair_seed`` when set (sensors and downstream partition stay those of ``seed``),
    with ``cfg.pair_sampling`` (see :func:`~mvlib.data.splits.pairs.make_pairs`).
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


def derive_seed(seed: int, tag: str) -> int:
    """An independent, stable seed per step (CRC32 of the tag keys the seed sequence)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(tag.encode())]).generate_state(1)[0])
