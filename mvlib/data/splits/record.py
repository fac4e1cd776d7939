"""Splits: one clip table's sensor splits, view pairs and downstream partition, saved as JSON.

A :class:`Splits` is what :func:`~mvlib.data.splits.make.make_splits` returns and a run saves
as ``splits.json``; :func:`~mvlib.data.splits.leakage.load_checked` reloads it checked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mvlib.core.cache import atomic_write_json
from mvlib.data.splits.pairs import PAIR_SOURCE, PAIR_SPLITS
from mvlib.data.splits.partition import DOWNSTREAM_PARTS
from mvlib.data.splits.sensors import SENSOR_SPLITS, sensor_column

FORMAT = "mvlib.splits/1"


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
