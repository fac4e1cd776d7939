"""A frozen, trained encoder applied to a latent store's features: subspace embeddings.

At inference one clip suffices (paper 2.1): the encoder maps a clip's frames to
``z_p`` and ``z_s``; probes and analyses use their time means, and the joint
embedding ``z_p ⊕ z_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from mvlib.core.errors import MvlibError
from mvlib.data.dataset import load_dataset
from mvlib.data.splits.leakage import load_checked
from mvlib.data.splits.make import make_splits
from mvlib.frontend.config_store import usable_clips
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml.model import build_model
from mvlib.ml.runs import check_store, load_run_model


def embed_array(model: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """Frame-level embeddings of one clip.

    Parameters
    ----------
    model : a model from :func:`mvlib.ml.model.build_model` (has ``.embed``)
    x : ndarray[T x D]

    Returns
    -------
    dict name -> ndarray[T x k] ("z_p", "z_s" for the autoencoders; "z" or "x" otherwise)
    """
    assert x.ndim == 2, f"expected one clip (T, D), got shape {x.shape}"
    device = next(model.parameters(), torch.empty(0)).device
    model.eval()
    with torch.inference_mode():
        out = model.embed(torch.as_tensor(x, dtype=torch.float32, device=device)[None])  # (1, T, D)
    return {k: v[0].float().cpu().numpy() for k, v in out.items()}


def pooled(emb: dict[str, np.ndarray], axis: int = -2) -> dict[str, np.ndarray]:
    """Time-mean of each subspace, plus ``joint`` = z_p ⊕ z_s when both exist."""
    out = {k: v.mean(axis=axis) for k, v in emb.items()}
    if "z_p" in out and "z_s" in out:
        out["joint"] = np.concatenate([out["z_p"], out["z_s"]], axis=-1)
    return out


def embed_rows(
    model: nn.Module, store: LatentStore, rows, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Time-pooled embeddings of store rows, batched over clips of equal length.

    Returns
    -------
    dict name -> ndarray[N x k] in the order of ``rows`` (see :func:`pooled`)
    """
    rows = np.asarray(rows, dtype=np.int64)
    device = next(model.parameters(), torch.empty(0)).device
    model.eval()
    frames = np.asarray(store.frames)[rows]
    parts: dict[str, list] = {}
    order = []
    for t in np.unique(frames):
        same = np.flatnonzero(frames == t)
        for b in range(0, len(same), batch_size):
            idx = same[b : b + batch_size]
            x = torch.from_numpy(store.get_batch(rows[idx]).astype(np.float32)).to(
                device
            )  # (B, T, D)
            with torch.inference_mode():
                emb = model.embed(x)
            for k, v in pooled({k: v.float().cpu().numpy() for k, v in emb.items()}).items():
                parts.setdefault(k, []).append(v)
            order.append(idx)
    inverse = np.argsort(np.concatenate(order))
    return {k: np.concatenate(v)[inverse] for k, v in parts.items()}


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(-1)
    return num / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def subspace_statistics(
    model: nn.Module, store: LatentStore, clips: pd.DataFrame, pairs: np.ndarray, seed: int = 0
) -> pd.DataFrame:
    """Scale of each subspace and cosine similarity of same-sensor vs cross-sensor views.

    Parameters
    ----------
    pairs : ndarray[P x 2]
        Clip-table rows of same-sensor pairs. Cross-sensor pairs are made by pairing each
        first view with a random second view of another pair whose sensor differs.
    """
    rows = store.rows(clips["clip_id"].to_numpy()[pairs.reshape(-1)]).reshape(-1, 2)  # (P, 2)
    e1, e2 = embed_rows(model, store, rows[:, 0]), embed_rows(model, store, rows[:, 1])
    sensors = clips["sensor_id"].to_numpy()[pairs[:, 0]]
    perm = np.random.default_rng(seed).permutation(len(pairs))
    cross = sensors != sensors[perm]
    out = []
    for k in e1:
        out.append(
            {
                "subspace": k,
                "dim": e1[k].shape[1],
                "mean |z|": float(np.abs(e1[k]).mean()),
                "std over clips": float(e1[k].std(0).mean()),
                "cos same sensor": float(_cos(e1[k], e2[k]).mean()),
                "cos other sensor": (
                    float(_cos(e1[k], e2[k][perm])[cross].mean()) if cross.any() else float("nan")
                ),
            }
        )
    return pd.DataFrame(out).set_index("subspace").round(4)


@dataclass
class RunEmbeddings:
    """A trained run's frozen encoder applied to its held-out sensors' downstream clips."""

    model: nn.Module
    cfg: object  #: the run's Config
    checkpoint: dict
    clips: pd.DataFrame  #: downstream clips (clip table rows, reindexed 0..N-1)
    partition: np.ndarray  #: ndarray[N] of "train" | "val" | "test"
    embeddings: dict  #: name -> ndarray[N x k], time-pooled (see :func:`pooled`)


def _store_of_run(cfg, prov: dict, where) -> LatentStore:
    """The latent store a run or result was made from (its provenance), checked to fit."""
    store_path = Path(prov["store"])
    if not store_path.exists():
        raise MvlibError(
            store_path,
            f"the latent store of {where} is gone",
            "re-extract it (mvlib extract with the run's config) or move it back",
        )
    store = LatentStore(store_path)
    check_store(cfg, store, prov)
    return store


def run_embeddings(
    run_dir, which: str = "best", progress: bool = False, clips: pd.DataFrame | None = None
) -> RunEmbeddings:
    """Load a run (config, checkpoint, splits, store) and embed its downstream clips.

    The store is the one the run was trained on (its provenance); it must still exist and
    fit the run (frontend, weights, frame size). ``clips``: the run's dataset as a clip
    table (:func:`mvlib.workflow.prepare`'s, as the sweep's worker holds it), instead of
    loading and checking the dataset again; the run's splits are checked against it
    either way.
    """
    run_dir = Path(run_dir)
    model, cfg, ckpt = load_run_model(run_dir, which)
    store = _store_of_run(cfg, ckpt["provenance"], f"run {run_dir}")
    if clips is None:
        clips = load_dataset(cfg, progress=progress)
    clips = usable_clips(clips, store)
    splits = load_checked(run_dir / "splits.json", clips)  # the dataset may have changed
    used = splits.downstream != ""
    down = clips.loc[used].reset_index(drop=True)
    emb = embed_rows(model, store, store.rows(down["clip_id"]))
    return RunEmbeddings(model, cfg, ckpt, down, splits.downstream[used], emb)


def frontend_embeddings(cfg, clips: pd.DataFrame, store: LatentStore):
    """Time-mean frontend features of the held-out sensors' downstream clips.

    Parameters
    ----------
    cfg : Config (its ``split`` and ``model`` sections are used)
    clips : clip table restricted to clips with features in ``store``
    store : LatentStore

    Returns
    -------
    (features {"x": ndarray[N x D]}, downstream clip rows, partition ndarray[N])
    """
    splits = make_splits(clips, cfg.split)
    down = clips.loc[splits.downstream != ""]
    frontend_only = build_model("frontend", store.dim, cfg.model)
    feats = embed_rows(frontend_only, store, store.rows(down["clip_id"]))  # {"x": (N, D)}
    return feats, down, splits.downstream[splits.downstream != ""]


def result_frontend_embeddings(cfg, prov: dict, where, progress: bool = False):
    """:func:`frontend_embeddings` of a frontend-only result, from the store it recorded.

    ``prov``: the result's provenance (its ``store``); ``where`` names the result in errors.
    Reads only: the store must still exist and fit ``cfg`` (nothing is extracted).
    """
    store = _store_of_run(cfg, prov, where)
    clips = usable_clips(load_dataset(cfg, progress=progress), store)
    return frontend_embeddings(cfg, clips, store)
