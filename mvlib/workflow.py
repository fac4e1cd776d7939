"""From a Config to the cached artefacts it needs: dataset, splits, latent store, run.

Each ``ensure_*`` makes what is missing through the library and caches it under
the cache root, so that a notebook or the CLI can start from a fresh clone::

    cfg = load_config("default")
    prep = prepare(cfg)            # dataset → clips → splits → latent store
    result = train(cfg, prep.clips, prep.splits, prep.store)
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.cache import cache_dir
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.data import sonyc, synth
from mvlib.data.pairing import Splits, make_splits
from mvlib.frontend.store import LatentStore

log = logging.getLogger(__name__)


class MissingDatasetError(MvlibError, FileNotFoundError):
    """The profile names the real SONYC-UST-V2 (or a folder) but no dataset is there."""


_SONYC_HOWTO = (
    "download SONYC-UST-V2 (Zenodo record 3966543: annotations.csv, and audio-*.tar.gz "
    "extracted into audio/) and pass its folder: CLI --set data.root=DIR, papermill "
    "-p data_root DIR; or set data.source: synth to generate the synthetic set there"
)


def dataset_name(cfg: Config) -> str:
    """The dataset's name in cache paths (latent stores): unique per dataset folder.

    The cache's synthetic set is named by its generator settings; any other folder by its
    name and a hash of its resolved path (so ``a/ds`` and ``b/ds`` never share a store),
    plus the generator settings when mvlib's marker is there. ``data.source`` plays no part:
    a folder is the same dataset whichever source the profile names.
    """
    if not cfg.data.root:
        if cfg.data.source == "synth":
            return synth.dataset_name(cfg.synth)
        dataset_root(cfg)  # raises: sonyc without a folder
    root = Path(cfg.data.root).expanduser().resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    name = f"{root.name}-{digest}"
    try:
        stamp = synth._read_stamp(root)
    except MvlibError:
        stamp = None
    if stamp and stamp.get("dataset"):
        name += f"-{stamp['dataset']}"
    return name


def dataset_root(cfg: Config) -> Path:
    """Folder holding ``annotations.csv`` and ``audio/`` (it need not exist yet)."""
    if cfg.data.root:
        return Path(cfg.data.root).expanduser()
    if cfg.data.source == "synth":
        return cache_dir("datasets") / synth.dataset_name(cfg.synth)
    raise MissingDatasetError(
        "data.root", "data.source is 'sonyc' but no folder is set", _SONYC_HOWTO
    )


def ensure_dataset(cfg: Config, progress: bool = True) -> Path:
    """The dataset folder, generated first only where none exists.

    A folder that holds ``annotations.csv`` is used as the dataset whatever ``data.source``
    says, and never written to (unless it is mvlib's own set of these settings whose
    generation was interrupted: that is finished). ``data.source`` decides only what happens
    when there is no dataset yet: ``synth`` generates it (into a new or empty folder, or one
    of mvlib's own), ``sonyc`` stops with instructions. A set that mvlib generated and the
    user changed since (e.g. a sensor removed) is used as it is, read-only, with a warning.
    """
    root = dataset_root(cfg)
    if (root / "annotations.csv").is_file():
        state, detail = synth.folder_state(root, cfg.synth)
        if state == "incomplete":
            synth.generate(cfg.synth, root, progress=progress)
        elif state == "edited":
            log.warning(
                "%s: changed since mvlib generated it (%s); used as it is, read-only", root, detail
            )
        elif state == "other_config":
            log.info("%s: a synthetic set of other settings (%s); used as it is", root, detail)
        elif state == "foreign":
            log.info(
                "%s: dataset used as it is, read-only (data.source: %s)", root, cfg.data.source
            )
        return root
    if cfg.data.source == "synth":
        synth.generate(cfg.synth, root, progress=progress)
        return root
    what = "no annotations.csv: not a SONYC-UST-V2 folder"
    if not root.exists():
        what = "no such folder"
    raise MissingDatasetError(root, what, _SONYC_HOWTO)


def load_dataset(cfg: Config, progress: bool = True) -> pd.DataFrame:
    """The clip table (one row per clip, DCASE-aggregated labels, audio paths)."""
    root = ensure_dataset(cfg, progress=progress)
    return sonyc.load_clips(root, check_audio=cfg.data.check_audio, strict=cfg.data.strict)


def store_dir(cfg: Config, frontend) -> Path:
    """``<cache>/latents/<dataset>/<frontend tag>`` (the tag names codec, weights, rate)."""
    return cache_dir("latents", dataset_name(cfg), frontend.tag)


def ensure_store(cfg: Config, clips: pd.DataFrame, progress: bool = True) -> LatentStore:
    """Extract features for ``clips`` with the configured frontend (resumes; no-op if done)."""
    from mvlib.frontend.extract import extract
    from mvlib.frontend.features import make_frontend

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
    clips = sonyc.load_clips(root, check_audio=cfg.data.check_audio, strict=cfg.data.strict)
    store = ensure_store(cfg, clips, progress=progress)
    clips = usable_clips(clips, store)
    splits = make_splits(clips, cfg.split)
    return Prepared(root=root, clips=clips, splits=splits, store=store)


def usable_clips(clips: pd.DataFrame, store: LatentStore) -> pd.DataFrame:
    """The clips that have features in ``store`` (reindexed); names those left out.

    A clip whose audio was refused at extraction (listed in the store's ``bad.jsonl``:
    truncated, silent, unreadable) or that was not extracted (``features.max_clips``) is
    neither paired nor probed, never half-used.
    """
    have = np.fromiter((c in store for c in clips["clip_id"]), dtype=bool, count=len(clips))
    if have.all():
        return clips
    gone = clips.loc[~have, "clip_id"].tolist()
    try:
        table = store.bad()  # clip_id, path, reason
        bad = dict(zip(table["clip_id"].astype(str), table["reason"]))
    except Exception:  # noqa: BLE001 - the listing is a courtesy; the clips are left out anyway
        bad = {}
    why = [f"{c} ({bad[c]})" if c in bad else c for c in gone[:5]]
    log.warning(
        "%d clip(s) have no features in %s and are left out: %s%s",
        len(gone),
        store.path,
        "; ".join(why),
        " ..." if len(gone) > 5 else "",
    )
    return clips.loc[have].reset_index(drop=True)
