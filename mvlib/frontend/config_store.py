"""A config's latent store: the store of its dataset and frontend, found or extracted.

A profile's latent store lives at ``<cache>/latents/<dataset>/<frontend tag>``, where the
dataset is named by :func:`mvlib.data.dataset.dataset_name` and the tag by the frontend
(codec, weights, rate)::

    frontend = make_frontend(cfg.features)
    out = store_dir(cfg, frontend)                 # where the store lives (need not exist)
    store = ensure_store(cfg, clips)               # extract what is missing (resumes)
    prov = store_provenance(cfg)                   # what the store records of its data
    clips = usable_clips(clips, store)             # the clips that have features in it
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.cache import cache_dir
from mvlib.core.config import Config
from mvlib.data.dataset import dataset_name
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.extract import extract
from mvlib.frontend.interface import Frontend
from mvlib.frontend.store.reader import LatentStore

__all__ = ["ensure_store", "store_dir", "store_provenance", "usable_clips"]

log = logging.getLogger(__name__)


def store_dir(cfg: Config, frontend: Frontend) -> Path:
    """``<cache>/latents/<dataset>/<frontend tag>`` (the tag names codec, weights, rate).

    Parameters
    ----------
    cfg : Config
        The resolved config (its ``data`` section names the dataset).
    frontend : Frontend
        The frontend built from ``cfg.features`` (:func:`make_frontend`).
    """
    return cache_dir("latents", dataset_name(cfg), frontend.tag)


def ensure_store(cfg: Config, clips: pd.DataFrame, progress: bool = True) -> LatentStore:
    """Extract features for ``clips`` with the configured frontend (resumes; no-op if done).

    Parameters
    ----------
    cfg : Config
        The resolved config (``features`` picks the frontend, ``data`` the dataset).
    clips : DataFrame
        The clip table (``clip_id``, ``audio_path``), e.g. from
        :func:`mvlib.data.dataset.load_dataset`.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    LatentStore
        The store, opened for reading.
    """
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
