"""A run folder: the files a training run writes, and how they are read back.

::

    <run>/config.yaml        the resolved Config
    <run>/provenance.json    store identity (frontend, weights), dataset, versions, commit
    <run>/splits.json        sensor splits, pairs and downstream partitions used
    <run>/losses.csv         per-epoch train/val loss terms
    <run>/checkpoints/last.pt, best.pt   state_dict + config (+ optimiser, RNG in last)
    <run>/done.json          written last: the run finished
    <run>/run.lock, run.lock.json   the writer's lock and its holder (mvlib.ml.runlock)
    <run>/run.claim, run.claim.json a sweep's claim on the run (mvlib.sweep.claim)

Names (:func:`run_name`, :func:`default_run_dir`), provenance, the checks that a store or
a folder fits a run, safe checkpoint loading, :func:`load_run_model` (the trained
model of a run) and :func:`load_encoder` (its encoder, for :func:`mvlib.load_model`).
Under torchrun rank 0 alone writes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import pickle
import platform
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_bytes, atomic_write_text, cache_dir
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.core.resources import checkout_root
from mvlib.core.runconfig import RUN_CONFIG, RunConfigMismatch, describe, diff, load_resolved
from mvlib.core.version import __version__
from mvlib.frontend.codecs import SHIPPED_CODECS, shipped_sha256
from mvlib.frontend.interface import resolve_device
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml import distributed as ddp
from mvlib.ml.model import TrainedEncoder, build_model

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("epoch", "split", "total", "rec", "cos", "nce", "sup", "seconds")


class StoreMismatchForRun(MvlibError, ValueError):
    """The latent store does not fit the run's configuration (frontend, dim, weights)."""


#: a run folder that holds a run of another config or dataset (one class with the sweep's)
RunConfigError = RunConfigMismatch


class UnfinishedRunError(RunConfigError, FileExistsError):
    """A run folder with an unfinished run, reused without ``resume``."""


class CheckpointError(MvlibError):
    """A checkpoint file that is missing, corrupt, or holds more than weights and numbers."""


@dataclass
class TrainResult:
    """A finished run: its folder, best epoch and validation loss, and loss history."""

    run_dir: Path
    best_epoch: int
    best_val: float
    epochs_run: int
    history: pd.DataFrame


# --------------------------------------------------------------------------- names


def run_name(cfg: Config) -> str:
    """Folder-safe name saying what a run is: method, objective, level, seed, frontend."""
    m, o = cfg.model, cfg.objective
    if m.method == "multiview":
        what = o.objective
        if o.objective in ("cos_minus", "cos_plus"):
            what += f"-{o.level}"
        if o.objective == "mask":
            what += f"-{o.mask_target}-r{o.mask_ratio:g}"
    elif m.method == "supervised":
        what = m.supervised_task
    else:
        what = "base"
    return f"{m.method}-{what}-{cfg.features.frontend}-seed{cfg.train.seed}-{run_hash(cfg)}"


def run_hash(cfg: Config) -> str:
    """The config's hash; with a shipped codec as frontend, its file's hash too.

    A shipped codec is named, not pathed (``features.dac_weights: mvlib-codec-22khz``), so
    the name alone would let a run of a retrained codec's latents reuse an older run.
    """
    sha = shipped_weights_sha256(cfg)
    if sha is None:
        return cfgmod.config_hash(cfg, 8)
    return cfgmod.config_hash({"config": cfgmod.config_hash(cfg, 16), "weights": sha}, 8)


def shipped_weights_sha256(cfg: Config) -> str | None:
    """The sha256 of the shipped codec ``cfg``'s frontend runs on (None: no shipped codec)."""
    w = cfg.features.dac_weights
    if cfg.features.frontend != "dac" or w not in SHIPPED_CODECS:
        return None
    return shipped_sha256(w)


def default_run_dir(cfg: Config) -> Path:
    """``<cache>/runs/<profile>/<run_name>``."""
    return cache_dir("runs", cfg.profile) / run_name(cfg)


def git_commit() -> str | None:
    """The project's git commit (with ``+dirty``), or None outside a checkout."""
    root = checkout_root()
    if root is None:  # an installed wheel: no repository to ask
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(cfg: Config, store: LatentStore, device: torch.device) -> dict:
    """What made a run: data, frontend and weights identity, versions, commit, device."""
    return {
        "profile": cfg.profile,
        "data_source": cfg.data.source,
        "dataset": store.header.get("provenance", {}).get("dataset"),
        "store": str(store.path),
        "frontend": store.identity.get("frontend"),
        "feature_identity": store.identity,
        "feature_dim": store.dim,
        "mvlib_version": __version__,
        "torch_version": str(torch.__version__),
        "python": platform.python_version(),
        "device": str(device),
        "git_commit": git_commit(),
    }


def check_store(cfg: Config, store: LatentStore, run_prov: dict | None = None) -> None:
    """Refuse a store whose frontend, weights or feature size do not fit the config or run."""
    frontend = store.identity.get("frontend")
    if frontend != cfg.features.frontend:
        raise StoreMismatchForRun(
            store.path,
            f"latent store made by frontend {frontend!r}, but the config asks for "
            f"features.frontend={cfg.features.frontend!r}",
            "extract a store for that frontend (mvlib extract)",
        )
    if store.dim % 2:
        raise StoreMismatchForRun(
            store.path,
            f"feature dim {store.dim} is odd; the private/shared split needs an even dimension",
            "use a frontend with an even feature size",
        )
    f = cfg.features
    expected = {"hop": f.hop, "sample_rate": f.sample_rate}
    if frontend == "logmel":
        expected["dim"] = f.n_mels
    for key, want in expected.items():
        have = store.dim if key == "dim" else store.identity.get(key)
        if have is not None and have != want:
            raise StoreMismatchForRun(
                store.path,
                f"latent store has {key}={have!r} (frames of another size), but the config "
                f"expects {want!r}",
                "extract a store with these feature settings",
            )
    if run_prov is None:
        return
    for key in ("frontend", "feature_dim"):
        have = store.identity.get("frontend") if key == "frontend" else store.dim
        if run_prov.get(key) != have:
            raise StoreMismatchForRun(
                store.path,
                f"the run was trained on {key}={run_prov.get(key)!r}, but the store has {have!r}",
                "train a new run (another --run-dir) on this store",
            )
    saved = run_prov.get("feature_identity", {})
    if saved != store.identity:
        differ = sorted(
            k for k in set(store.identity) | set(saved) if store.identity.get(k) != saved.get(k)
        )
        raise StoreMismatchForRun(
            store.path,
            f"store built with other weights/frontend settings than the run (differs in {differ})",
            "resume the run on the store it was trained on, or train a new run",
        )


# --------------------------------------------------------------------------- files


def refuse_other_config(run_dir: Path, cfg: Config) -> None:
    """A run folder that holds a run of another config is never reused (nor overwritten)."""
    saved = run_dir / RUN_CONFIG
    if not saved.exists():
        return
    have, want = cfgmod.to_dict(load_resolved(saved)), cfgmod.to_dict(cfg)
    keys = diff(want, have)
    if keys:
        raise RunConfigMismatch(
            run_dir,
            f"holds a run of another config ({describe(keys, want, have)})",
            "pass another run folder (--run-dir / run_dir=...) or leave it unset for a new one "
            "under the cache, or delete this folder to train it again",
        )


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write a checkpoint atomically (rank 0 alone under torchrun)."""
    if not ddp.context().is_main:  # under torchrun rank 0 alone writes
        return
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors, dicts, numbers, strings).

    Raises
    ------
    CheckpointError
        No such file; a file that is not a torch checkpoint (truncated, corrupt); or one
        that holds other objects, which safe loading refuses (mvlib never loads those).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint", "give a run folder made by `mvlib train`")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            path,
            "holds objects other than tensors, numbers and strings, which mvlib's safe "
            "loading (weights_only) refuses: it was not written by mvlib, or was altered",
            "use a checkpoint that `mvlib train` wrote; mvlib does not load such files",
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            path,
            f"not a readable torch checkpoint ({first[:200]}): truncated or corrupt",
            "retrain the run (a new --run-dir), or restore the file",
        ) from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(
            path,
            "not an mvlib checkpoint (no config/model entries)",
            "use a checkpoint that `mvlib train` wrote",
        )
    return ckpt


def checkpoint_of(path: str | os.PathLike, which: str = "best") -> tuple[Path, str]:
    """``(run folder, checkpoint name)`` of a run folder, or of one of its checkpoint files
    ``<run>/checkpoints/<name>.pt`` (whose name then replaces ``which``)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".pt":
        return path.parent.parent, path.stem
    return path, which


def load_encoder(
    run: str | os.PathLike, which: str = "best", subspace: str = "both", device="cpu"
) -> TrainedEncoder:
    """The trained encoder of a run folder (or of one of its checkpoints), in eval mode.

    See :func:`mvlib.load_model`; ``device`` "auto" is cuda when available.
    """
    run_dir, which = checkpoint_of(run, which)
    model, cfg, _ckpt = load_run_model(run_dir, which, device=resolve_device(str(device)))
    return TrainedEncoder(model, subspace, config=cfg)


def load_run_model(run_dir: str | os.PathLike, which: str = "best", device="cpu") -> tuple:
    """Rebuild the trained model of a run: returns ``(model, Config, checkpoint)``."""
    ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.pt", map_location=device)
    cfg = cfgmod.from_dict(ckpt["config"])
    model = build_model(
        cfg.model.method, ckpt["dim"], cfg.model, cfg.objective, n_outputs=ckpt.get("n_outputs")
    )
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, ckpt


def trim_losses(path: Path, last_epoch: int) -> None:
    """Drop losses.csv rows after ``last_epoch``: rows logged before a crash that came
    ahead of their checkpoint; the resumed epochs write them again (never twice)."""
    if not ddp.context().is_main or not path.exists():  # under torchrun rank 0 alone writes
        return
    hist = pd.read_csv(path)
    keep = hist[hist["epoch"] <= last_epoch]
    if len(keep) != len(hist):
        log.info("%s: dropping %d row(s) after epoch %d", path, len(hist) - len(keep), last_epoch)
        atomic_write_text(path, keep.to_csv(index=False))


def append_losses(path: Path, rows: list[dict]) -> None:
    """Append rows (one per split) to ``losses.csv``, atomically."""
    if not ddp.context().is_main:  # under torchrun rank 0 alone writes
        return
    old = path.read_text() if path.exists() else ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOSS_COLUMNS, extrasaction="ignore")
    if not old:
        w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in LOSS_COLUMNS})
    atomic_write_text(path, old + buf.getvalue())


def main_result(run_dir: Path) -> TrainResult:
    """Rank 0's :func:`read_result`, on every rank (other nodes need not see the run folder)."""
    return ddp.broadcast_object(read_result(run_dir) if ddp.context().is_main else None)


def read_result(run_dir: Path) -> TrainResult:
    """The :class:`TrainResult` of a finished run folder (its ``done.json`` and losses)."""
    done = json.loads((run_dir / "done.json").read_text())
    hist = (
        pd.read_csv(run_dir / "losses.csv") if (run_dir / "losses.csv").exists() else pd.DataFrame()
    )
    return TrainResult(
        run_dir=run_dir,
        best_epoch=done["best_epoch"],
        best_val=done["best_val"],
        epochs_run=done.get("epochs_run", done["epochs"]),
        history=hist,
    )
