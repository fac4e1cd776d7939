"""Training of the multi-view autoencoder and its baselines (paper 3.3, 3.6).

Pairs stream from the latent store by memory map (:class:`BatchLoader`); nothing
loads the whole store. A run directory holds everything a run made::

    <run>/config.yaml        the resolved Config
    <run>/provenance.json    store identity (frontend, weights), dataset, versions, commit
    <run>/splits.json        sensor splits, pairs and downstream partitions used
    <run>/losses.csv         per-epoch train/val loss terms
    <run>/checkpoints/last.pt, best.pt   state_dict + config (+ optimiser, RNG in last)
    <run>/done.json          written last: the run finished

Determinism: every epoch re-seeds its shuffling, crops, masking and dropout from
``(seed, epoch)``, and a checkpoint is written at each epoch end, so ``resume``
continues a killed run to bitwise the same weights as an uninterrupted one (CPU).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # text bars on stderr: widget bars would freeze at 0% in the built book

import mvlib
from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_bytes, atomic_write_json, atomic_write_text, cache_dir
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.core.runconfig import RunConfigMismatch
from mvlib.data.pairing import Splits
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.frontend.features import resolve_device
from mvlib.frontend.store import LatentStore
from mvlib.ml import distributed as ddp
from mvlib.ml.losses import NonFiniteLossError, model_loss
from mvlib.ml.model import build_model

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("epoch", "split", "total", "rec", "cos", "nce", "sup", "seconds")


class StoreMismatchForRun(ValueError):
    """The latent store does not fit the run's configuration (frontend, dim, weights)."""


#: a run folder that holds a run of another config or dataset (one class with the sweep's)
RunConfigError = RunConfigMismatch


class UnfinishedRunError(RunConfigError, FileExistsError):
    """A run folder with an unfinished run, reused without ``resume``."""


class NonFiniteTrainingError(FloatingPointError):
    """A loss term became NaN or inf; names the epoch, step and term."""


# --------------------------------------------------------------------------- data


@dataclass
class BatchLoader:
    """Mini-batches from a :class:`LatentStore`, by memory map.

    Parameters
    ----------
    store : LatentStore
    items : ndarray[P x V]
        Store rows; V = 2 for view pairs, V = 1 for single clips.
    batch_size : int
    crop_frames : int or None
        Random crop of T frames per view (fixed crop at evaluation); None: whole clips.
    shuffle : bool
    seed : int
    labels : ndarray[P x ...] or None
        Supervised targets, aligned with ``items``.
    """

    store: LatentStore
    items: np.ndarray
    batch_size: int
    crop_frames: int | None = None
    shuffle: bool = True
    seed: int = 0
    labels: np.ndarray | None = None
    max_batches: int | None = None
    #: under torchrun: this rank's part of each global batch (mvlib.ml.distributed.shard_loader)
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        self.items = np.asarray(self.items, dtype=np.int64)
        if self.items.ndim == 1:
            self.items = self.items[:, None]  # (P, 1)
        assert self.items.ndim == 2, f"items must be (P, V), got {self.items.shape}"
        assert len(self.items) > 0, "no items to batch: the split is empty"
        self.epoch = 0

    def __len__(self) -> int:
        n = math.ceil(len(self.items) / self.batch_size)
        return min(n, self.max_batches) if self.max_batches else n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.items)) if self.shuffle else np.arange(len(self.items))
        # evaluation crops are fixed (seeded by the seed alone), training crops fresh per epoch
        crop_rng = rng if self.shuffle else np.random.default_rng([self.seed, 10**6])
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            rows = self.items[idx]  # (B, V)
            rngs = [crop_rng] * rows.shape[1]
            if self.world_size > 1:  # this rank's part of the global batch, same crops
                idx, rows, rngs = ddp.local_batch(self, idx, rows, crop_rng)
            batch = {}
            for v in range(rows.shape[1]):
                arr = self.store.get_batch(rows[:, v], self.crop_frames, rngs[v])  # (B, T, D)
                key = "x" if rows.shape[1] == 1 else f"x{v + 1}"
                batch[key] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
            if self.labels is not None:
                batch["y"] = torch.from_numpy(self.labels[idx])
            yield batch


def pair_rows(clips: pd.DataFrame, store: LatentStore, pairs: np.ndarray) -> np.ndarray:
    """Clip-table pairs (P, 2) → store-row pairs (P, 2), dropping pairs not in the store."""
    rows = store.lookup(clips["clip_id"].astype(str))  # (N,) store row per clip, -1: absent
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    keep = (rows[pairs] >= 0).all(axis=1)  # (P,)
    if not keep.all():
        log.warning(
            "%d of %d pairs reference clips absent from the store; dropped",
            (~keep).sum(),
            len(pairs),
        )
    return rows[pairs[keep]]  # (P, 2)


def make_loaders(
    cfg: Config, clips: pd.DataFrame, splits: Splits, store: LatentStore
) -> tuple[BatchLoader, BatchLoader, int | None]:
    """Training and validation loaders for the configured method.

    Returns ``(train, val, n_outputs)``; ``n_outputs`` is set for the supervised baseline.
    """
    t, method = cfg.train, cfg.model.method
    common = dict(batch_size=t.batch_size, crop_frames=t.crop_frames, seed=t.seed)
    if method in ("multiview", "contrastive"):
        tr = pair_rows(clips, store, splits.pairs["train"])
        va = pair_rows(clips, store, splits.pairs["val"])
        return (
            BatchLoader(store, tr, shuffle=True, max_batches=t.max_steps_per_epoch, **common),
            BatchLoader(store, va, shuffle=False, **common),
            None,
        )
    if method == "singleview":
        out = []
        for part in ("train", "val"):
            sensors = set(splits.sensors[part])
            ids = clips.loc[clips["sensor_id"].isin(sensors), "clip_id"]
            ids = [c for c in ids if c in store]
            out.append(store.rows(ids))
        return (
            BatchLoader(store, out[0], shuffle=True, max_batches=t.max_steps_per_epoch, **common),
            BatchLoader(store, out[1], shuffle=False, **common),
            None,
        )
    if method == "supervised":
        y, n_out = supervised_targets(clips, splits, cfg.model.supervised_task)
        loaders = []
        for part, shuffle in (("train", True), ("val", False)):
            mask = splits.downstream == part
            rows = store.rows(clips.loc[mask, "clip_id"])
            loaders.append(
                BatchLoader(
                    store,
                    rows,
                    shuffle=shuffle,
                    labels=y[mask],
                    max_batches=t.max_steps_per_epoch if shuffle else None,
                    **common,
                )
            )
        return loaders[0], loaders[1], n_out
    raise ValueError(f"unknown method {method!r}")


def supervised_targets(clips: pd.DataFrame, splits: Splits, task: str) -> tuple[np.ndarray, int]:
    """Targets of the supervised baseline: source multi-hot (N, 8) or held-out sensor codes (N,)."""
    if task == "source":
        return clips[list(coarse_label_columns())].to_numpy(np.float32), 8
    heldout = sorted(splits.sensors["heldout"])
    code = {s: i for i, s in enumerate(heldout)}
    y = np.array([code.get(s, -1) for s in clips["sensor_id"]], dtype=np.int64)
    return y, len(heldout)


# --------------------------------------------------------------------------- run dirs


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
    return f"{m.method}-{what}-{cfg.features.frontend}-seed{cfg.train.seed}-{cfgmod.config_hash(cfg, 8)}"


def default_run_dir(cfg: Config) -> Path:
    """``<cache>/runs/<profile>/<run_name>``."""
    return cache_dir("runs", cfg.profile) / run_name(cfg)


def git_commit() -> str | None:
    """The project's git commit (with ``+dirty``), or None outside a checkout."""
    root = Path(__file__).resolve().parents[2]
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
        "mvlib_version": mvlib.__version__,
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
            f"latent store {store.path} was made by frontend {frontend!r}, but the config asks "
            f"for features.frontend={cfg.features.frontend!r}; extract a store for that frontend"
        )
    if store.dim % 2:
        raise StoreMismatchForRun(
            f"store {store.path}: feature dim {store.dim} is odd; "
            "the private/shared split needs an even dimension"
        )
    f = cfg.features
    expected = {"hop": f.hop, "sample_rate": f.sample_rate}
    if frontend == "logmel":
        expected["dim"] = f.n_mels
    for key, want in expected.items():
        have = store.dim if key == "dim" else store.identity.get(key)
        if have is not None and have != want:
            raise StoreMismatchForRun(
                f"latent store {store.path} has {key}={have!r} (frames of another size), but the "
                f"config expects {want!r}; extract a store with these feature settings"
            )
    if run_prov is None:
        return
    for key in ("frontend", "feature_dim"):
        have = store.identity.get("frontend") if key == "frontend" else store.dim
        if run_prov.get(key) != have:
            raise StoreMismatchForRun(
                f"run was trained on {key}={run_prov.get(key)!r}, but store {store.path} has {have!r}"
            )
    if run_prov.get("feature_identity") != store.identity:
        diff = sorted(
            k
            for k in set(store.identity) | set(run_prov.get("feature_identity", {}))
            if store.identity.get(k) != run_prov.get("feature_identity", {}).get(k)
        )
        raise StoreMismatchForRun(
            f"store {store.path} was built with different weights/frontend settings than the run "
            f"(differs in {diff})"
        )


def _seed_everything(seed: int, epoch: int) -> None:
    # ranks > 0 of a torchrun job draw their own dropout/masks (rank 0: as in one process)
    torch.manual_seed(seed * 100003 + epoch + 7919 * ddp.context().rank)


def _save_checkpoint(path: Path, payload: dict) -> None:
    if not ddp.context().is_main:  # under torchrun rank 0 alone writes
        return
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


class CheckpointError(MvlibError):
    """A checkpoint file that is missing, corrupt, or holds more than weights and numbers."""


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors, dicts, numbers, strings).

    Raises
    ------
    CheckpointError
        No such file; a file that is not a torch checkpoint (truncated, corrupt); or one
        that holds other objects, which safe loading refuses (mvlib never loads those).
    """
    import pickle
    import zipfile

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


def _trim_losses(path: Path, last_epoch: int) -> None:
    """Drop losses.csv rows after ``last_epoch``: rows logged before a crash that came
    ahead of their checkpoint; the resumed epochs write them again (never twice)."""
    if not ddp.context().is_main or not path.exists():  # under torchrun rank 0 alone writes
        return
    hist = pd.read_csv(path)
    keep = hist[hist["epoch"] <= last_epoch]
    if len(keep) != len(hist):
        log.info("%s: dropping %d row(s) after epoch %d", path, len(hist) - len(keep), last_epoch)
        atomic_write_text(path, keep.to_csv(index=False))


def load_model(run_dir: str | os.PathLike, which: str = "best", device="cpu") -> tuple:
    """Rebuild the trained model of a run: returns ``(model, Config, checkpoint)``."""
    ckpt = load_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.pt", map_location=device)
    cfg = cfgmod.from_dict(ckpt["config"])
    model = build_model(
        cfg.model.method, ckpt["dim"], cfg.model, cfg.objective, n_outputs=ckpt.get("n_outputs")
    )
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, ckpt


# --------------------------------------------------------------------------- loop


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val: float
    epochs_run: int
    history: pd.DataFrame


def _run_epoch(
    model, loader, cfg: Config, device, optimizer=None, epoch=0, bar=None, schedule=None
) -> dict:
    """One pass; returns mean loss terms. Raises NonFiniteTrainingError naming the step."""
    training = optimizer is not None
    model.train(training)
    loader.set_epoch(epoch)
    sums: dict[str, float] = {}
    n = 0
    with torch.set_grad_enabled(training):
        for step, batch in enumerate(loader):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            try:
                total, terms = model_loss(model, batch, cfg.objective, ddp.row_gatherer(loader))
            except NonFiniteLossError as e:
                raise NonFiniteTrainingError(
                    f"epoch {epoch}, {'train' if training else 'val'} step {step}: {e}"
                ) from e
            if training:
                if schedule is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = schedule(epoch * len(loader) + step)
                optimizer.zero_grad(set_to_none=True)
                ddp.scale_loss(total, loader).backward()  # identity in one process
                optimizer.step()
            b = ddp.batch_count(loader, len(next(iter(batch.values()))))
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * b
            n += b
            if bar is not None:
                bar.set_postfix(loss=f"{terms['total']:.4f}", refresh=False)
    sums, n = ddp.reduce_sums(sums, n)  # over ranks under torchrun
    return {k: v / n for k, v in sums.items()}


def _append_losses(path: Path, rows: list[dict]) -> None:
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


def train(
    cfg: Config,
    clips: pd.DataFrame,
    splits: Splits,
    store: LatentStore,
    run_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train ``cfg.model.method`` on the store; keep the checkpoint of minimum val loss.

    A finished run (``done.json``) is returned as is; an unfinished one resumes from
    its last checkpoint when ``resume`` (else it is an error to reuse the folder).

    Under torchrun (:mod:`mvlib.ml.distributed`) every rank calls this with its own resolved
    config (they must agree); ``train.batch_size`` is the global batch, rank 0 writes.
    """
    cfg = ddp.agree_config(cfg)  # one resolved config for every rank (no-op in one process)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    ckpt_dir = run_dir / "checkpoints"
    device = ddp.device_for(resolve_device(cfg.train.device))  # cuda:LOCAL_RANK under torchrun
    check_store(cfg, store)
    _check_budget(cfg)
    _refuse_other_config(run_dir, cfg)
    if ddp.broadcast_object((run_dir / "done.json").exists()):
        log.info("run %s already finished; reusing it", run_dir)
        return _main_result(run_dir)
    last_path = ckpt_dir / "last.pt"
    if ddp.broadcast_object(last_path.exists()) and not resume:
        raise UnfinishedRunError(
            run_dir,
            "holds an unfinished run",
            "resume it (mvlib train --resume, the default) or give another --run-dir",
        )

    with _threads(cfg.train.threads):
        return _train(cfg, clips, splits, store, run_dir, ckpt_dir, last_path, device, progress)


def _check_budget(cfg: Config) -> None:
    """Range checks of the early-stopping and budget fields (named in the error)."""
    from mvlib.core.errors import MvlibError

    t = cfg.train
    for name, value, ok, want in (
        ("train.patience", t.patience, t.patience is None or t.patience >= 1, "an integer >= 1"),
        (
            "train.steps_per_epoch",
            t.steps_per_epoch,
            t.steps_per_epoch is None or t.steps_per_epoch >= 1,
            "an integer >= 1",
        ),
        ("train.min_delta", t.min_delta, 0.0 <= t.min_delta < 1.0, "a fraction in [0, 1)"),
    ):
        if not ok:
            raise MvlibError(name, f"{value!r} is out of range", f"use {want} (or null)")


def _refuse_other_config(run_dir: Path, cfg: Config) -> None:
    """A run folder that holds a run of another config is never reused (nor overwritten)."""
    from mvlib.core.runconfig import RUN_CONFIG, describe, diff, load_resolved

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


class _FixedSteps:
    """Exactly ``steps`` batches per epoch from a loader, cycling it with fresh shuffles.

    Each pass over the loader is seeded by ``(epoch, pass)``, so runs stay deterministic
    and a resumed run sees the same batches. Gives every method the same optimiser budget.
    """

    def __init__(self, loader, steps: int):
        assert steps > 0, f"steps_per_epoch must be positive, got {steps}"
        self.loader, self.steps, self.epoch = loader, int(steps), 0

    def __len__(self) -> int:
        return self.steps

    def __getattr__(self, name: str):
        # the wrapped loader's attributes (e.g. rank, world_size and batch_size under DDP)
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        done, k = 0, 0
        while done < self.steps:
            self.loader.set_epoch(self.epoch * 100_000 + k)
            for batch in self.loader:
                yield batch
                done += 1
                if done == self.steps:
                    return
            k += 1


def lr_at(cfg, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based, global over the run).

    ``train.schedule`` "constant": ``train.lr``. "cosine": linear warm-up from
    ``lr / warmup_steps`` to ``lr`` over ``warmup_steps`` steps, then
    ``lr * (1 + cos(pi * progress)) / 2`` with ``progress`` going from 0 to 1 over the rest
    of the budget (``epochs x steps_per_epoch`` steps), so the last step of the budget has a
    learning rate near 0. A pure function of the step: a resumed run continues the schedule
    exactly (nothing to save), and early stopping does not change it.
    """
    t = cfg.train
    if t.schedule == "constant":
        return t.lr
    total = t.epochs * steps_per_epoch
    warm = min(t.warmup_steps, max(total - 1, 0))
    if step < warm:
        return t.lr * (step + 1) / warm
    progress = (step - warm) / max(total - warm, 1)
    return t.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@contextlib.contextmanager
def _threads(n: int | None):
    """Temporarily set torch's CPU thread count."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _train(
    cfg, clips, splits, store, run_dir, ckpt_dir, last_path, device, progress
) -> TrainResult:
    train_loader, val_loader, n_out = make_loaders(cfg, clips, splits, store)
    ddp.shard_loader(train_loader), ddp.shard_loader(val_loader)  # no-op in one process
    if cfg.train.steps_per_epoch:  # the same optimiser budget for every method
        train_loader = _FixedSteps(train_loader, cfg.train.steps_per_epoch)
    patience = cfg.train.patience
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model.method, store.dim, cfg.model, cfg.objective, n_outputs=n_out).to(
        device
    )
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    start, best_val, best_epoch = 0, math.inf, -1
    n_steps = len(train_loader)

    def schedule(step: int) -> float:
        return lr_at(cfg, step, n_steps)

    prov = provenance(cfg, store, device)

    main = ddp.context().is_main
    if ddp.context().enabled:
        prov["distributed"] = ddp.describe(cfg)  # world, global/per-rank batch, lr

    state = None  # rank 0 reads the checkpoint and hands it to every rank
    if main and last_path.exists():
        state = load_checkpoint(last_path, map_location="cpu" if ddp.context().enabled else device)
    state = ddp.broadcast_object(state)
    if state is not None:
        saved = cfgmod.from_dict(state["config"])
        if cfgmod.to_dict(saved) != cfgmod.to_dict(cfg):
            raise RunConfigError(
                run_dir,
                "holds an unfinished run of another config",
                "use a new --run-dir for a changed config, or the run's own config "
                "(see RUN_DIR/config.yaml) to resume it",
            )
        if (run_dir / "splits.json").exists():
            from mvlib.data.pairing import Splits

            if Splits.load(run_dir / "splits.json") != splits:
                raise RunConfigError(
                    run_dir / "splits.json",
                    "the dataset's splits changed since this run started (clips added, removed "
                    "or relabelled)",
                    "train a new run (another --run-dir), or restore the dataset as it was",
                )
        check_store(cfg, store, state["provenance"])
        _trim_losses(run_dir / "losses.csv", state["epoch"])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, best_val, best_epoch = state["epoch"] + 1, state["best_val"], state["best_epoch"]
        log.info("resuming %s at epoch %d", run_dir, start)
    elif main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfgmod.save_yaml(cfg, run_dir / "config.yaml")
        atomic_write_json(run_dir / "provenance.json", prov)
        splits.save(run_dir / "splits.json")
        (run_dir / "losses.csv").unlink(missing_ok=True)

    base = dict(config=cfgmod.to_dict(cfg), dim=store.dim, n_outputs=n_out, provenance=prov)
    epochs = range(start, cfg.train.epochs)
    net = ddp.wrap(model, device)  # DistributedDataParallel under torchrun, else model
    bar = tqdm(epochs, desc=run_dir.name[:40], disable=not (progress and main), unit="epoch")
    stopped = False
    for epoch in bar:
        # early stopping, checked before the epoch so that a resumed run stops where it would
        if patience is not None and best_epoch >= 0 and epoch - 1 - best_epoch >= patience:
            stopped = True
            break
        t0 = time.perf_counter()
        _seed_everything(cfg.train.seed, epoch)
        tr = _run_epoch(net, train_loader, cfg, device, opt, epoch, bar, schedule)
        va = _run_epoch(net, val_loader, cfg, device, None, epoch)
        secs = time.perf_counter() - t0
        _append_losses(
            run_dir / "losses.csv",
            [
                {"epoch": epoch, "split": "train", "seconds": f"{secs:.3f}", **tr},
                {"epoch": epoch, "split": "val", "seconds": f"{secs:.3f}", **va},
            ],
        )
        if _better(va["total"], best_val, cfg.train.min_delta):
            best_val, best_epoch = va["total"], epoch
            _save_checkpoint(
                ckpt_dir / "best.pt",
                {**base, "model": model.state_dict(), "epoch": epoch, "val_total": best_val},
            )
        _save_checkpoint(
            last_path,
            {
                **base,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "best_val": best_val,
                "best_epoch": best_epoch,
            },
        )
        bar.set_postfix(train=f"{tr['total']:.4f}", val=f"{va['total']:.4f}", best=best_epoch + 1)
    epochs_run = max(start, epoch + (0 if stopped else 1)) if len(epochs) else start
    if main:
        atomic_write_json(
            run_dir / "done.json",
            {
                "best_epoch": best_epoch,
                "best_val": best_val,
                "epochs": cfg.train.epochs,
                "epochs_run": epochs_run,
                "stopped_early": stopped,
                "steps_per_epoch": len(train_loader),
                "optimiser_steps": epochs_run * len(train_loader),
            },
        )
    ddp.barrier()  # the others wait for rank 0's writes
    return _main_result(run_dir)


def _main_result(run_dir: Path) -> TrainResult:
    """Rank 0's :func:`_result`, on every rank (other nodes need not see the run folder)."""
    return ddp.broadcast_object(_result(run_dir) if ddp.context().is_main else None)


def _better(val: float, best: float, min_delta: float) -> bool:
    """Does ``val`` lower ``best`` by more than ``min_delta`` (relative)?"""
    if not math.isfinite(best):
        return math.isfinite(val)
    return val < best - min_delta * abs(best)


def _result(run_dir: Path) -> TrainResult:
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
