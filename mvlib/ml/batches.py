"""Mini-batches for training: store rows of view pairs or clips, read by memory map.

:class:`BatchLoader` streams batches (``Tensor[B x T x D]`` per view, crops drawn per
epoch) from a :class:`~mvlib.frontend.store.reader.LatentStore`; nothing loads the whole
store.
:func:`make_loaders` builds a method's training and validation loaders from the clip table
and the splits, and :class:`FixedSteps` cuts or cycles a loader to an exact number of
optimiser steps per epoch, so that every method gets the same budget.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mvlib.core.config import Config
from mvlib.data.labels import label_matrix
from mvlib.data.splits.record import Splits
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml import distributed as ddp

log = logging.getLogger(__name__)


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
        return label_matrix(clips, "source").astype(np.float32), 8  # (N, 8)
    heldout = sorted(splits.sensors["heldout"])
    code = {s: i for i, s in enumerate(heldout)}
    y = np.array([code.get(s, -1) for s in clips["sensor_id"]], dtype=np.int64)
    return y, len(heldout)


class FixedSteps:
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
