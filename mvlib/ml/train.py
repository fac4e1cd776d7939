"""The training loop of the multi-view autoencoder and its baselines (paper 3.3, 3.6).

:func:`train` trains ``cfg.model.method`` on a latent store into a run folder
(:mod:`mvlib.ml.runs` describes its files), holding the folder's lock
(:mod:`mvlib.ml.runlock`) so that one process at a time writes it: a second process waits
and reuses the finished run. Batches come from :mod:`mvlib.ml.batches`.

Determinism: every epoch re-seeds its shuffling, crops, masking and dropout from
``(seed, epoch)``, and a checkpoint is written at each epoch end, so ``resume``
continues a killed run to bitwise the same weights as an uninterrupted one (CPU).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm  # text bars on stderr: widget bars would freeze at 0% in the built book

from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_json
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.data.splits.record import Splits
from mvlib.frontend.interface import resolve_device
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml import distributed as ddp
from mvlib.ml.batches import FixedSteps, make_loaders
from mvlib.ml.losses import NonFiniteLossError, model_loss
from mvlib.ml.model import build_model
from mvlib.ml.runlock import run_lock
from mvlib.ml.runs import (
    RunConfigError,
    TrainResult,
    UnfinishedRunError,
    append_losses,
    check_store,
    default_run_dir,
    load_checkpoint,
    main_result,
    provenance,
    refuse_other_config,
    save_checkpoint,
    trim_losses,
)

__all__ = ["NonFiniteTrainingError", "lr_at", "train"]

log = logging.getLogger(__name__)


class NonFiniteTrainingError(MvlibError, FloatingPointError):
    """A loss term became NaN or inf; names the epoch, step and term (culprit), and the fix."""

    def __init__(self, culprit, what: str = "", fix: str = ""):
        super().__init__(culprit, what, fix)


def _seed_everything(seed: int, epoch: int) -> None:
    # ranks > 0 of a torchrun job draw their own dropout/masks (rank 0: as in one process)
    torch.manual_seed(seed * 100003 + epoch + 7919 * ddp.context().rank)


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
                    f"epoch {epoch}, {'train' if training else 'val'} step {step}",
                    str(e),
                    "training diverged: lower train.lr (--set train.lr=...), or check the data",
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


def train(
    cfg: Config,
    clips: pd.DataFrame,
    splits: Splits,
    store: LatentStore,
    run_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    wait: bool = True,
) -> TrainResult:
    """Train ``cfg.model.method`` on the store; keep the checkpoint of minimum val loss.

    A finished run (``done.json``) is returned as is; an unfinished one resumes from
    its last checkpoint when ``resume`` (else it is an error to reuse the folder).

    The run folder's lock is held while training (:func:`mvlib.ml.runlock.run_lock`):
    when another process is writing the run, ``wait`` waits for it and then returns its
    finished run (or resumes it, if that process was killed); ``wait=False`` raises
    :class:`~mvlib.ml.runlock.RunBusyError` naming its PID and host.

    Under torchrun (:mod:`mvlib.ml.distributed`) every rank calls this with its own resolved
    config (they must agree); ``train.batch_size`` is the global batch, rank 0 holds the
    lock (waiting, whatever ``wait`` says) and writes.

    Examples
    --------
    >>> import mvlib
    >>> from mvlib.workflow import prepare
    >>> tiny = {"synth.n_sensors": 6, "synth.clips_per_sensor": 6}  # 36 synthetic clips
    >>> cfg = mvlib.load_config("ci", {**tiny, "train.epochs": 1})
    >>> prep = prepare(cfg, progress=False)
    >>> result = train(cfg, prep.clips, prep.splits, prep.store, progress=False)
    >>> result.epochs_run, (result.run_dir / "done.json").is_file()
    (1, True)
    """
    cfg = ddp.agree_config(cfg)  # one resolved config for every rank (no-op in one process)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    check_store(cfg, store)
    _check_budget(cfg)
    refuse_other_config(run_dir, cfg)
    ctx = ddp.context()
    lock = run_lock(run_dir, wait=wait or ctx.enabled) if ctx.is_main else contextlib.nullcontext()
    with lock:
        return _train_locked(
            cfg, clips, splits, store, run_dir=run_dir, resume=resume, progress=progress
        )


def _train_locked(
    cfg, clips, splits, store, *, run_dir: Path, resume: bool, progress: bool
) -> TrainResult:
    """:func:`train` once this process (rank 0) holds the run's lock."""
    device = ddp.device_for(resolve_device(cfg.train.device))  # cuda:LOCAL_RANK under torchrun
    job = _Job(cfg, clips, splits, store, run_dir, device, progress)
    refuse_other_config(run_dir, cfg)  # again: a process we waited for may have written it
    if ddp.broadcast_object((run_dir / "done.json").exists()):
        log.info("run %s already finished; reusing it", run_dir)
        return main_result(run_dir)
    if ddp.broadcast_object(job.last_path.exists()) and not resume:
        raise UnfinishedRunError(
            run_dir,
            "holds an unfinished run",
            "resume it (mvlib train --resume, the default) or give another --run-dir",
        )
    with _threads(cfg.train.threads):
        return _train(job)


def _check_budget(cfg: Config) -> None:
    """Range checks of the early-stopping and budget fields (named in the error)."""
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


@dataclass(frozen=True)
class _Job:
    """What one training run learns from, and where and on what it runs."""

    cfg: Config
    clips: pd.DataFrame
    splits: Splits
    store: LatentStore
    run_dir: Path
    device: torch.device
    progress: bool

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def last_path(self) -> Path:
        """The checkpoint of the last finished epoch (what a resumed run starts from)."""
        return self.ckpt_dir / "last.pt"


@dataclass
class _Best:
    """Where a run stands: the first epoch to run, and the best validation loss so far."""

    start: int = 0
    val: float = math.inf
    epoch: int = -1  #: the epoch of ``val`` (-1: none yet)


def _train(job: _Job) -> TrainResult:
    """Build the model, resume or start the run, train its epochs, write ``done.json``."""
    train_loader, val_loader, n_out = _loaders(job)
    model, opt = _model_and_optimiser(job, n_out)
    prov = _provenance(job)
    best = _resume_or_start(job, model, opt, prov)
    base = dict(config=cfgmod.to_dict(job.cfg), dim=job.store.dim, n_outputs=n_out, provenance=prov)
    epochs_run, stopped = _fit(job, model, opt, (train_loader, val_loader), best, base)
    if ddp.context().is_main:
        atomic_write_json(
            job.run_dir / "done.json",
            {
                "best_epoch": best.epoch,
                "best_val": best.val,
                "epochs": job.cfg.train.epochs,
                "epochs_run": epochs_run,
                "stopped_early": stopped,
                "steps_per_epoch": len(train_loader),
                "optimiser_steps": epochs_run * len(train_loader),
            },
        )
    ddp.barrier()  # the others wait for rank 0's writes
    return main_result(job.run_dir)


def _loaders(job: _Job):
    """Training and validation loaders (this rank's share), and the supervised classes."""
    cfg = job.cfg
    train_loader, val_loader, n_out = make_loaders(cfg, job.clips, job.splits, job.store)
    ddp.shard_loader(train_loader), ddp.shard_loader(val_loader)  # no-op in one process
    if cfg.train.steps_per_epoch:  # the same optimiser budget for every method
        train_loader = FixedSteps(train_loader, cfg.train.steps_per_epoch)
    return train_loader, val_loader, n_out


def _model_and_optimiser(job: _Job, n_out):
    """The model of ``cfg.model.method``, initialised from ``train.seed``, and its AdamW."""
    cfg = job.cfg
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model.method, job.store.dim, cfg.model, cfg.objective, n_outputs=n_out)
    model = model.to(job.device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    return model, opt


def _provenance(job: _Job) -> dict:
    """The run's provenance, with the torchrun layout under torchrun."""
    prov = provenance(job.cfg, job.store, job.device)
    if ddp.context().enabled:
        prov["distributed"] = ddp.describe(job.cfg)  # world, global/per-rank batch, lr
    return prov


def _resume_or_start(job: _Job, model, opt, prov: dict) -> _Best:
    """Load the last checkpoint into ``model`` and ``opt`` if there is one (checking that it
    is this run's), else start the run folder (config, provenance, splits)."""
    state = None  # rank 0 reads the checkpoint and hands it to every rank
    if ddp.context().is_main and job.last_path.exists():
        where = "cpu" if ddp.context().enabled else job.device
        state = load_checkpoint(job.last_path, map_location=where)
    state = ddp.broadcast_object(state)
    if state is None:
        if ddp.context().is_main:
            job.run_dir.mkdir(parents=True, exist_ok=True)
            cfgmod.save_yaml(job.cfg, job.run_dir / "config.yaml")
            atomic_write_json(job.run_dir / "provenance.json", prov)
            job.splits.save(job.run_dir / "splits.json")
            (job.run_dir / "losses.csv").unlink(missing_ok=True)
        return _Best()
    _check_resumable(job, state)
    trim_losses(job.run_dir / "losses.csv", state["epoch"])
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    log.info("resuming %s at epoch %d", job.run_dir, state["epoch"] + 1)
    return _Best(state["epoch"] + 1, state["best_val"], state["best_epoch"])


def _check_resumable(job: _Job, state: dict) -> None:
    """Refuse a last checkpoint of another config, splits or store."""
    run_dir = job.run_dir
    saved = cfgmod.from_dict(state["config"])
    if cfgmod.to_dict(saved) != cfgmod.to_dict(job.cfg):
        raise RunConfigError(
            run_dir,
            "holds an unfinished run of another config",
            "use a new --run-dir for a changed config, or the run's own config "
            "(see RUN_DIR/config.yaml) to resume it",
        )
    if (run_dir / "splits.json").exists():
        if Splits.load(run_dir / "splits.json") != job.splits:
            raise RunConfigError(
                run_dir / "splits.json",
                "the dataset's splits changed since this run started (clips added, removed "
                "or relabelled)",
                "train a new run (another --run-dir), or restore the dataset as it was",
            )
    check_store(job.cfg, job.store, state["provenance"])


def _fit(job: _Job, model, opt, loaders: tuple, best: _Best, base: dict) -> tuple[int, bool]:
    """Train the epochs from ``best.start`` on, stopping early after ``train.patience``
    epochs without improvement; returns (epochs run, stopped early)."""
    cfg, patience = job.cfg, job.cfg.train.patience
    train_loader, val_loader = loaders
    schedule = functools.partial(lr_at, cfg, steps_per_epoch=len(train_loader))
    epochs = range(best.start, cfg.train.epochs)
    net = ddp.wrap(model, job.device)  # DistributedDataParallel under torchrun, else model
    show = job.progress and ddp.context().is_main
    bar = tqdm(epochs, desc=job.run_dir.name[:40], disable=not show, unit="epoch")
    stopped = False
    for epoch in bar:
        # early stopping, checked before the epoch so that a resumed run stops where it would
        if patience is not None and best.epoch >= 0 and epoch - 1 - best.epoch >= patience:
            stopped = True
            break
        t0 = time.perf_counter()
        _seed_everything(cfg.train.seed, epoch)
        tr = _run_epoch(net, train_loader, cfg, job.device, opt, epoch, bar, schedule)
        va = _run_epoch(net, val_loader, cfg, job.device, None, epoch)
        _end_epoch(job, epoch, (tr, va), time.perf_counter() - t0)
        _checkpoint(job, model, opt, best, base, epoch, va["total"])
        bar.set_postfix(train=f"{tr['total']:.4f}", val=f"{va['total']:.4f}", best=best.epoch + 1)
    epochs_run = max(best.start, epoch + (0 if stopped else 1)) if len(epochs) else best.start
    return epochs_run, stopped


def _end_epoch(job: _Job, epoch: int, losses: tuple[dict, dict], secs: float) -> None:
    """Append the epoch's mean training and validation loss terms to ``losses.csv``."""
    tr, va = losses
    append_losses(
        job.run_dir / "losses.csv",
        [
            {"epoch": epoch, "split": "train", "seconds": f"{secs:.3f}", **tr},
            {"epoch": epoch, "split": "val", "seconds": f"{secs:.3f}", **va},
        ],
    )


def _checkpoint(job: _Job, model, opt, best: _Best, base: dict, epoch: int, val: float) -> None:
    """Write ``best.pt`` when ``val`` improves on the best, and ``last.pt`` always."""
    if _better(val, best.val, job.cfg.train.min_delta):
        best.val, best.epoch = val, epoch
        save_checkpoint(
            job.ckpt_dir / "best.pt",
            {**base, "model": model.state_dict(), "epoch": epoch, "val_total": best.val},
        )
    save_checkpoint(
        job.last_path,
        {
            **base,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "best_val": best.val,
            "best_epoch": best.epoch,
        },
    )


def _better(val: float, best: float, min_delta: float) -> bool:
    """Does ``val`` lower ``best`` by more than ``min_delta`` (relative)?"""
    if not math.isfinite(best):
        return math.isfinite(val)
    return val < best - min_delta * abs(best)
