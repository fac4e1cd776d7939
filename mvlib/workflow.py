"""From a Config to the cached artefacts it needs: dataset, splits, latent store, run.

Each ``ensure_*`` makes what is missing through the library and caches it under
the cache root, so that a notebook or the CLI can start from a fresh clone::

    cfg = load_config("default")
    prep = prepare(cfg)            # dataset → clips → splits → latent store
    result = train(cfg, prep.clips, prep.splits, prep.store)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mvlib import data, synth
from mvlib.cache import cache_dir
from mvlib.config import Config
from mvlib.pairing import Splits, make_splits
from mvlib.store import LatentStore

log = logging.getLogger(__name__)


class MissingDatasetError(FileNotFoundError):
    """The profile names the real SONYC-UST-V2 but no folder for it."""


def dataset_name(cfg: Config) -> str:
    """The dataset's name in cache paths: the synth config hash, or the dataset folder's name."""
    if cfg.data.root:
        return f"{cfg.data.source}-{Path(cfg.data.root).name}"
    if cfg.data.source == "synth":
        return synth.dataset_name(cfg.synth)
    return f"sonyc-{Path(dataset_root(cfg)).name}"


def dataset_root(cfg: Config) -> Path:
    """Folder holding ``annotations.csv`` and ``audio/``."""
    if cfg.data.source == "synth":
        return (
            Path(cfg.data.root)
            if cfg.data.root
            else cache_dir("datasets") / synth.dataset_name(cfg.synth)
        )
    if not cfg.data.root:
        raise MissingDatasetError(
            "data.source is 'sonyc' but data.root is not set: download SONYC-UST-V2 "
            "(Zenodo record 3966543: annotations.csv and audio-*.tar.gz extracted into audio/) and "
            "pass data.root=/path/to/it (papermill: -p data_root /path; CLI: --set data.root=/path)"
        )
    root = Path(cfg.data.root).expanduser()
    if not (root / "annotations.csv").exists():
        raise MissingDatasetError(f"{root}: no annotations.csv; expected the SONYC-UST-V2 folder")
    return root


def ensure_dataset(cfg: Config, progress: bool = True) -> Path:
    """Generate the synthetic set if the profile uses it and it is not cached yet."""
    root = dataset_root(cfg)
    if cfg.data.source == "synth":
        synth.generate(cfg.synth, root, progress=progress)
    return root


def load_dataset(cfg: Config, progress: bool = True) -> pd.DataFrame:
    """The clip table (one row per clip, DCASE-aggregated labels, audio paths)."""
    root = ensure_dataset(cfg, progress=progress)
    return data.load_clips(root, check_audio=cfg.data.check_audio)


def store_dir(cfg: Config, frontend) -> Path:
    """``<cache>/latents/<dataset>/<frontend tag>`` (the tag names codec, weights, rate)."""
    return cache_dir("latents", dataset_name(cfg), frontend.tag)


def ensure_store(cfg: Config, clips: pd.DataFrame, progress: bool = True) -> LatentStore:
    """Extract features for ``clips`` with the configured frontend (resumes; no-op if done)."""
    from mvlib.extract import extract
    from mvlib.features import make_frontend

    frontend = make_frontend(cfg.features)
    out = store_dir(cfg, frontend)
    extract(
        clips,
        out,
        cfg.features,
        provenance=store_provenance(cfg),
        progress=progress,
        frontend=frontend,
    )
    return LatentStore(out)


def store_provenance(cfg: Config) -> dict:
    """What a latent store records about the data it was extracted from."""
    return {"dataset": dataset_name(cfg), "data_source": cfg.data.source}


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
    clips = data.load_clips(root, check_audio=cfg.data.check_audio)
    splits = make_splits(clips, cfg.split)
    store = ensure_store(cfg, clips, progress=progress)
    return Prepared(root=root, clips=clips, splits=splits, store=store)
