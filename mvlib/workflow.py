"""From a Config to the cached artefacts a run needs: dataset, clip table, splits, latent store.

:func:`prepare` makes what is missing (:func:`mvlib.data.dataset.ensure_dataset`,
:func:`mvlib.frontend.config_store.ensure_store`) and caches it under the cache root, so that a
notebook or the CLI can start from a fresh clone::

    cfg = load_config("default")
    prep = prepare(cfg)            # dataset → clips → splits → latent store
    result = train(cfg, prep.clips, prep.splits, prep.store)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mvlib.core.config import Config
from mvlib.data import sonyc
from mvlib.data.dataset import ensure_dataset
from mvlib.data.splits.make import make_splits
from mvlib.data.splits.record import Splits
from mvlib.frontend.config_store import ensure_store, usable_clips
from mvlib.frontend.store.reader import LatentStore

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything a training run needs, made or loaded from the cache."""

    root: Path
    clips: pd.DataFrame
    splits: Splits
    store: LatentStore


def prepare(cfg: Config, progress: bool = True) -> Prepared:
    """Dataset → clip table → sensor-disjoint splits and pairs → latent store."""
    root = ensure_dataset(cfg, progress=progress)
    clips = sonyc.load_clips(root, check_audio=cfg.data.check_audio, strict=cfg.data.strict)
    store = ensure_store(cfg, clips, progress=progress)
    clips = usable_clips(clips, store)
    splits = make_splits(clips, cfg.split)
    return Prepared(root=root, clips=clips, splits=splits, store=store)
