"""Data-parallel training on PyTorch's own engine: torchrun, process groups, DDP.

``torchrun --nproc_per_node N -m mvlib train …`` starts N processes (ranks); torchrun sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each, and
:func:`process_group` joins them with ``init_process_group(init_method="env://")``: NCCL when
the training device is CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on CPU. Without
those variables (a plain ``mvlib train``) nothing here does anything and a run is bit for bit
the one-process run.

The schedule is global, the work is split:

* ``train.batch_size`` is the **global** batch. Each optimiser step reads the same global
  batch a one-process run reads (order and crops from ``(seed, epoch)``, see
  :class:`mvlib.ml.batches.BatchLoader`) and rank r takes the contiguous part
  :func:`shard_bounds` gives it (per-rank batch = global / world, the first ``B % world``
  ranks one more). Each rank's loss is weighted by its share (:func:`scale_loss`) so that
  DDP's gradient average equals the gradient of the global batch's mean loss, also for an
  uneven last batch; a rank whose part is empty runs one clip at weight 0.
* ``train.lr`` is the learning rate of that global batch, applied unchanged (no scaling
  rule): the same config trains the same model on 1 or N processes (up to float sums).
* Rank 0 alone writes the run folder (config, provenance, losses, checkpoints, done.json);
  the others wait on a barrier. Checkpoints hold the unwrapped module's state, so a run
  resumes on any number of processes, and in one.
* Every rank trains on the config rank 0 resolved: :func:`agree_config` gathers each
  rank's resolved config and stops all ranks with one error when they differ.

* Batch-level objective terms (eqs. 4, 5, the contrastive baseline's InfoNCE) compare every
  row of the GLOBAL batch with every other: each rank all-gathers the time-reduced latents
  of all ranks (:func:`gather_rows`, in the one-process row order) and computes the term on
  the B rows, so a batch-level run, too, trains the one-process model. The gather's
  backward sums every rank's gradient for a rank's rows (an all-reduce); with the
  ``b_r · N / B`` weights of :func:`scale_loss`, DDP's mean gradient is the gradient of the
  global term. The run's provenance says so (``distributed.batch_level_terms``).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mvlib.core import config as cfgmod
from mvlib.core.errors import MvlibError
from mvlib.frontend.interface import resolve_device

log = logging.getLogger(__name__)

#: the variables torchrun (and Slurm wrappers following its convention) set per rank
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_ENV = "MVLIB_DIST_TIMEOUT_MIN"  #: collective timeout, minutes (default 60)


class DistributedConfigError(MvlibError):
    """Ranks of one job resolved different configs, or the launch environment is incomplete."""


@dataclass(frozen=True)
class Context:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes."""
        return self.rank == 0


_CTX = Context()


def context() -> Context:
    """This process's :class:`Context` (rank 0 of 1 outside a process group)."""
    return _CTX


def launched() -> bool:
    """True when torchrun (or an equivalent launcher) started this process with >1 ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_context() -> Context:
    """Read rank, world size and local rank from torchrun's variables; check they are whole."""
    missing = [v for v in ENV_VARS if v not in os.environ]
    if missing:
        raise DistributedConfigError(
            "environment",
            f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} but {missing} are not set",
            "launch with torchrun (it sets RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)",
        )
    ctx = Context(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ["LOCAL_RANK"]),
    )
    if not 0 <= ctx.rank < ctx.world_size:
        raise DistributedConfigError(
            "environment", f"RANK={ctx.rank} outside 0..WORLD_SIZE-1={ctx.world_size - 1}"
        )
    return ctx


def device_for(requested: str | torch.device, ctx: Context | None = None) -> torch.device:
    """The training device of this rank: ``cuda:LOCAL_RANK`` for CUDA, else as resolved."""
    ctx = ctx or _CTX
    dev = requested if isinstance(requested, torch.device) else resolve_device(requested)
    if ctx.enabled and dev.type == "cuda":
        if torch.cuda.device_count() <= ctx.local_rank:
            raise DistributedConfigError(
                "train.device",
                f"local rank {ctx.local_rank} needs a GPU but this node has "
                f"{torch.cuda.device_count()}",
                "start at most one process per GPU (--nproc_per_node) or train.device=cpu",
            )
        dev = torch.device("cuda", ctx.local_rank)
    return dev


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[Context]:
    """Join torchrun's process group for the duration (no-op without torchrun's variables).

    Parameters
    ----------
    device : str
        ``train.device``: CUDA selects NCCL and ``cuda:LOCAL_RANK``; CPU selects gloo.
    """
    global _CTX
    if dist.is_available() and dist.is_initialized():  # the caller made the group
        before = _CTX
        _CTX = Context(
            dist.get_rank(),
            dist.get_world_size(),
            int(os.environ.get("LOCAL_RANK", "0")),
            dist.get_backend(),
        )
        try:
            yield _CTX
        finally:
            _CTX = before
        return
    if not launched():
        yield _CTX
        return
    ctx = env_context()
    dev = device_for(device, ctx)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    minutes = float(os.environ.get(TIMEOUT_ENV, "60"))
    dist.init_process_group(
        backend, init_method="env://", timeout=datetime.timedelta(minutes=minutes)
    )
    _CTX = Context(ctx.rank, ctx.world_size, ctx.local_rank, backend)
    log.info("rank %d of %d joined (%s, %s)", ctx.rank, ctx.world_size, backend, dev)
    try:
        yield _CTX
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
        _CTX = Context()


# --------------------------------------------------------------------------- collectives


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if _CTX.enabled:
        dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects; ``obj`` is ignored elsewhere)."""
    if not _CTX.enabled:
        return obj
    box = [obj if _CTX.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list:
    """``[obj of rank 0, …, obj of rank N-1]`` on every rank."""
    if not _CTX.enabled:
        return [obj]
    out = [None] * _CTX.world_size
    dist.all_gather_object(out, obj)
    return out


def main_first(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0 first, then on each node's local rank 0, then the rest.

    For work that fills a cache (dataset synthesis, extraction): rank 0 makes it, the rest
    find it made (shared file system), or one process per node makes it (node-local caches).
    """
    ctx = _CTX
    if not ctx.enabled:
        return fn(*args, **kwargs)
    out = None
    for turn in range(3):
        mine = 0 if ctx.is_main else (1 if ctx.local_rank == 0 else 2)
        if turn == mine:
            out = fn(*args, **kwargs)
        dist.barrier()
    return out


def agree_config(cfg):
    """Every rank's resolved Config must equal rank 0's; returns rank 0's (raises otherwise).

    Ranks resolve a profile each (``frontend: auto``, ``$MVLIB_PROFILE``, node-local files);
    a rank that resolved something else would train another model in the same job.
    """
    if not _CTX.enabled:
        return cfg
    mine = cfgmod.to_dict(cfg)
    dicts = gather_objects(mine)
    bad = {}
    for r, d in enumerate(dicts):
        diff = _diff_keys(dicts[0], d)
        if diff:
            bad[r] = diff
    if bad:
        r, keys = next(iter(bad.items()))
        raise DistributedConfigError(
            "config",
            f"rank {r} resolved another config than rank 0 (differs in {keys[:8]}); "
            f"config hashes {[cfgmod.config_hash(cfgmod.from_dict(d)) for d in dicts]}",
            "give every rank the same profile file, overrides, environment and DAC weights",
        )
    return cfgmod.from_dict(dicts[0])


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(prefix + k)
    return out


# --------------------------------------------------------------------------- batches


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank's contiguous part ``[lo, hi)`` of ``n`` items: sizes differ by at most one."""
    assert world >= 1 and 0 <= rank < world, f"rank {rank} of world {world}"
    q, r = divmod(n, world)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (1 if rank < r else 0)


class ReplayRng:
    """Hands ``get_batch`` pre-drawn crop starts, one per ``integers`` call, in order."""

    def __init__(self, starts: list[int]):
        self._starts = list(starts)

    def integers(self, low, high=None, size=None):  # noqa: D102 - mimics Generator.integers
        assert size is None, "ReplayRng replays scalar draws only"
        return self._starts.pop(0)


def local_batch(loader, idx: np.ndarray, rows: np.ndarray, crop_rng):
    """This rank's part of one global batch of ``loader`` (a :class:`mvlib.ml.batches.BatchLoader`).

    The crop starts of the whole global batch are drawn from ``crop_rng`` exactly as
    ``LatentStore.get_batch`` draws them in a one-process run (view by view, clip by clip:
    ``rng.integers(0, frames - crop + 1)``), so the generator advances identically on every
    rank and the union over ranks is the one-process batch; only the rank's rows are read.

    Returns
    -------
    idx : ndarray[b] local item positions; rows : ndarray[b x V]; rngs : one per view;
    and sets ``loader.batch_weight`` (b · world / B), ``loader.batch_count`` (b) and
    ``loader.rank_counts`` (every rank's b, for :func:`gather_rows`).
    """
    n, world = len(idx), loader.world_size
    lo, hi = shard_bounds(n, loader.rank, world)
    starts = []
    for v in range(rows.shape[1]):
        frames = loader.store.frames[rows[:, v]]  # (B,)
        crop = loader.crop_frames if loader.crop_frames is not None else int(frames[0])
        draws = [int(crop_rng.integers(0, int(f) - crop + 1)) for f in frames]
        starts.append(draws)
    if hi == lo:  # fewer items than ranks: run one clip at weight 0 to join the all-reduce
        lo, hi, count = 0, 1, 0
    else:
        count = hi - lo
    loader.batch_weight = count * world / n
    loader.batch_count = count
    loader.rank_counts = [
        hi_k - lo_k for lo_k, hi_k in (shard_bounds(n, k, world) for k in range(world))
    ]
    rngs = [ReplayRng(s[lo:hi]) for s in starts]
    return idx[lo:hi], rows[lo:hi], rngs


def shard_loader(loader, ctx: Context | None = None):
    """Make ``loader`` yield this rank's part of each global batch (no-op in one process)."""
    ctx = ctx or _CTX
    if ctx.enabled:
        loader.rank, loader.world_size = ctx.rank, ctx.world_size
    return loader


def scale_loss(total: torch.Tensor, loader) -> torch.Tensor:
    """Weight a rank's mean loss by its share of the global batch (identity in one process).

    DDP averages gradients over ranks; with weight ``b_r · N / B`` the average is the
    gradient of ``sum_r b_r · mean_r / B``: the global batch's mean loss.
    """
    if getattr(loader, "world_size", 1) <= 1:
        return total
    return total * loader.batch_weight


def batch_count(loader, b: int) -> int:
    """Items of the last batch that count in the epoch's mean (0 for a weight-0 filler)."""
    if getattr(loader, "world_size", 1) <= 1:
        return b
    return loader.batch_count


class _GatherBlocks(torch.autograd.Function):
    """All-gather of equal-shaped blocks; the backward sums every rank's gradient for this
    rank's block (an all-reduce, which every backend has) and returns that block's part."""

    @staticmethod
    def forward(ctx, x):  # x: (m, D)
        world, rank = dist.get_world_size(), dist.get_rank()
        blocks = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(blocks, x.contiguous())
        ctx.rank, ctx.m = rank, x.shape[0]
        return torch.cat(blocks)  # (world * m, D)

    @staticmethod
    def backward(ctx, grad):  # grad: (world * m, D)
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # sum over ranks: each computed the loss on all rows
        return grad[ctx.rank * ctx.m : (ctx.rank + 1) * ctx.m]


def gather_rows(z: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """The global batch's rows from every rank's rows, differentiable.

    Parameters
    ----------
    z : Tensor[b x D]
        This rank's rows (a rank with ``counts[rank] == 0`` holds one weight-0 filler row,
        which is left out).
    counts : list[int]
        Rows of each rank in rank order (``loader.rank_counts``); ranks hold contiguous
        parts of the batch, so the result is in the one-process row order.

    Returns
    -------
    Tensor[B x D], B = sum(counts)
    """
    world, rank = len(counts), _CTX.rank
    assert world == _CTX.world_size, f"counts {counts} for a world of {_CTX.world_size}"
    local = counts[rank]
    assert z.shape[0] == max(local, 1), f"rank {rank}: {z.shape[0]} rows, counts {counts}"
    m = max(max(counts), 1)
    pad = z.new_zeros((m - local, *z.shape[1:]))
    full = _GatherBlocks.apply(torch.cat([z[:local], pad]))  # (world * m, D)
    out = torch.cat([full[k * m : k * m + c] for k, c in enumerate(counts)])  # (B, D)
    assert out.shape[0] == sum(counts), f"gathered {out.shape[0]} rows, counts {counts}"
    return out


def row_gatherer(loader):
    """The ``gather`` of :func:`mvlib.ml.losses.model_loss` for ``loader``'s current batch:
    :func:`gather_rows` under torchrun, None (local rows are the batch) in one process."""
    if getattr(loader, "world_size", 1) <= 1:
        return None
    return lambda z: gather_rows(z, loader.rank_counts)


def reduce_sums(sums: dict[str, float], n: int) -> tuple[dict[str, float], int]:
    """Sum per-rank loss sums and item counts over ranks (identity in one process)."""
    if not _CTX.enabled:
        return sums, n
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys] + [float(n)], dtype=torch.float64)
    if _CTX.backend == "nccl":  # NCCL reduces CUDA tensors only
        t = t.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(t)
    return dict(zip(keys, t[:-1].tolist())), int(round(t[-1].item()))


# --------------------------------------------------------------------------- model


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in :class:`DDP` under a process group; ``model`` itself in one process."""
    if not _CTX.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    # static_graph: the single-view baseline forwards twice (both clips) before backward
    return DDP(model, device_ids=ids, static_graph=True)


class DDP(torch.nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that also shows the wrapped model's attributes (``method``…)."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def describe(cfg, ctx: Context | None = None) -> dict:
    """What a run's provenance records about its processes, global batch and learning rate."""
    ctx = ctx or _CTX
    world = ctx.world_size
    b = cfg.train.batch_size
    batch_level = cfg.model.method == "contrastive" or (
        cfg.model.method == "multiview"
        and cfg.objective.objective in ("cos_minus", "cos_plus")
        and cfg.objective.level == "batch"
    )
    out = {
        **asdict(ctx),
        "global_batch": b,
        "per_rank_batch": [
            shard_bounds(b, r, world)[1] - shard_bounds(b, r, world)[0] for r in range(world)
        ],
        "lr": cfg.train.lr,
        "lr_scaling": "none: train.lr is the learning rate of the global batch",
    }
    if batch_level:
        out["batch_level_terms"] = (
            "over the whole global batch: latents all-gathered across ranks"
            if world > 1
            else "over the whole batch"
        )
    return out
