"""A config's dataset: its folder (generated where none exists) and its clip table.

A profile names its data by ``data.root`` (a folder holding ``annotations.csv`` and
``audio/``) or, without one, by ``data.source: synth`` (mvlib's synthetic set in the cache,
named by its generator settings)::

    root = ensure_dataset(cfg)      # the folder, generated first only where none exists
    clips = load_dataset(cfg)       # one row per clip, DCASE-aggregated labels
    name = dataset_name(cfg)        # the dataset's name in cache paths (latent stores)
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pandas as pd

from mvlib.core.cache import cache_dir
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.data import sonyc
from mvlib.data.synth.folder import folder_state, read_marker
from mvlib.data.synth.generation import generate
from mvlib.data.synth.lock import generation_lock
from mvlib.data.synth.plan import set_name

log = logging.getLogger(__name__)

__all__ = [
    "MissingDatasetError",
    "dataset_name",
    "dataset_root",
    "ensure_dataset",
    "load_dataset",
]


class MissingDatasetError(MvlibError, FileNotFoundError):
    """The profile names the real SONYC-UST-V2 (or a folder) but no dataset is there."""


_SONYC_HOWTO = (
    "download SONYC-UST-V2 (Zenodo record 3966543: annotations.csv, and audio-*.tar.gz "
    "extracted into audio/) and pass its folder: CLI --set data.root=DIR, papermill "
    "-p data_root DIR; or set data.source: synth to generate the synthetic set there"
)


def dataset_name(cfg: Config) -> str:
    """The dataset's name in cache paths (latent stores): unique per dataset folder.

    The cache's synthetic set is named by its generator settings
    (:func:`mvlib.data.synth.plan.set_name`); any other folder by its name and a hash of its
    resolved path (so ``a/ds`` and ``b/ds`` never share a store), plus the generator
    settings when mvlib's marker is there. ``data.source`` plays no part: a folder is the
    same dataset whichever source the profile names.
    """
    if not cfg.data.root:
        if cfg.data.source == "synth":
            return set_name(cfg.synth)
        dataset_root(cfg)  # raises: sonyc without a folder
    root = Path(cfg.data.root).expanduser().resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    name = f"{root.name}-{digest}"
    try:
        stamp = read_marker(root)
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
        return cache_dir("datasets") / set_name(cfg.synth)
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

    Many processes may ask for the same set at once (a sweep in a terminal, another in a
    notebook, a Slurm array): one generates it while holding the set's lock
    (:func:`mvlib.data.synth.lock.generation_lock`), the others wait for it and then use it.
    """
    root = dataset_root(cfg)
    if _usable(root, cfg):  # a dataset there already: used as it is, no lock needed
        return root
    if cfg.data.source != "synth" and not (root / "annotations.csv").is_file():
        what = "no annotations.csv: not a SONYC-UST-V2 folder"
        if not root.exists():
            what = "no such folder"
        raise MissingDatasetError(root, what, _SONYC_HOWTO)
    # none yet, or mvlib's unfinished set: generate (or finish) it, unless another process
    # is doing so: then wait for it, and use what it made
    with generation_lock(root):
        if not _usable(root, cfg):
            generate(cfg.synth, root, progress=progress)
    return root


def _usable(root: Path, cfg: Config) -> bool:
    """Is there a dataset at ``root`` to use as it is (saying how, on the log)?

    False when there is none, or when it is mvlib's own set of these settings whose
    generation is unfinished (another process may be writing it: see :func:`ensure_dataset`).
    mvlib writes ``annotations.csv`` of its sets after their marker, so a folder holding it
    without the marker is the user's, never a set being generated.
    """
    if not (root / "annotations.csv").is_file():
        return False
    state, detail = folder_state(root, cfg.synth)
    if state == "incomplete":
        return False
    if state == "edited":
        log.warning(
            "%s: changed since mvlib generated it (%s); used as it is, read-only", root, detail
        )
    elif state == "other_config":
        log.info("%s: a synthetic set of other settings (%s); used as it is", root, detail)
    elif state == "foreign":
        log.info("%s: dataset used as it is, read-only (data.source: %s)", root, cfg.data.source)
    return True


def load_dataset(cfg: Config, progress: bool = True) -> pd.DataFrame:
    """The clip table (one row per clip, DCASE-aggregated labels, audio paths)."""
    root = ensure_dataset(cfg, progress=progress)
    return sonyc.load_clips(root, check_audio=cfg.data.check_audio, strict=cfg.data.strict)
