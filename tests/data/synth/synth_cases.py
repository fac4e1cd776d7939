"""Shared cases of the synth tests: a small set's settings and file readers."""

from __future__ import annotations

import pandas as pd

from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy

SR = 16000
SMALL = SynthConfig(n_sensors=6, clips_per_sensor=4, duration_s=1.0, sample_rate=SR, seed=3)


def files_of(root):
    """``{relative path: bytes}`` of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def annotations_of(root):
    """The set's annotations.csv, proximity columns as text."""
    return pd.read_csv(
        root / "annotations.csv",
        dtype={c: str for c in taxonomy.annotation_columns() if c.endswith("_proximity")},
    )
