"""A tiny trained run on a real log-mel frontend identity (helper of tests/embed and others).

The store holds random frames whose identity is that of ``LogMelFrontend`` with 16 mel bands,
so a run trained on it can be applied to audio through the real frontend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core import config
from mvlib.data.splits.make import make_splits
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.logmel import LogMelFrontend
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml import train

N_MELS, T = 16, 24


def tiny_config(**over) -> config.Config:
    base = {
        "split.sensor_fractions": [0.5, 0.17, 0.33],
        "split.n_pairs": [32, 8, 8],
        "split.downstream_fractions": [0.5, 0.25, 0.25],
        "synth.duration_s": 2.0,
        "model.hidden": 16,
        "train.epochs": 1,
        "train.batch_size": 8,
        "train.crop_frames": 8,
        "train.device": "cpu",
        "features.n_mels": N_MELS,
        "features.device": "cpu",
    }
    base.update(over)
    return config.read_profile("ci", base)


def make_run(path: Path, method: str = "multiview", frontend: str = "logmel", **over) -> Path:
    """Train a one-epoch run in ``path`` (returns its run folder).

    ``frontend="dac"``: the store's identity is the DAC frontend's found here (the seeded
    random init when no weights are on disk), frames of 1024 dims.
    """
    cfg = tiny_config(**{"model.method": method, "features.frontend": frontend, **over})
    rng = np.random.default_rng(0)
    rows = []
    for s in range(6):
        for k in range(6):
            labels = (rng.random(8) < 0.3).astype(np.int8)
            rows.append(
                {
                    "clip_id": f"{s:02d}_{k:06d}.wav",
                    "sensor_id": f"{s:02d}",
                    **dict(zip(coarse_label_columns(), labels)),
                }
            )
    clips = pd.DataFrame(rows)
    if frontend == "dac":
        fe = DACFrontend(cfg.features)
        identity, dim = fe.identity, fe.dim
        del fe
    else:
        identity, dim = LogMelFrontend(cfg.features).identity, N_MELS
    header = {"identity": identity, "dim": dim, "provenance": {"dataset": "toy"}}
    with StoreWriter(path / "store", header) as w:
        for r in clips.itertuples():
            x = rng.normal(size=(T, dim)) + int(r.sensor_id)
            w.append(r.clip_id, x.astype(np.float16), {})
    store = LatentStore(path / "store")
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=path / "run", progress=False)
    return res.run_dir
