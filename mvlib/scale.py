"""Paper-scale planning and cost projection: what a full run extracts, stores and trains.

Three parts, all cheap enough for two CPU cores:

* :func:`clip_table` — the clip table of a synthetic network of a profile's size
  (ids, sensors and the 8 coarse labels of :func:`mvlib.data.synth.plan.clip_plan`),
  *without audio*; with :func:`mvlib.data.splits.make.make_splits` it gives the paper's
  39k/6k/11k pairs.
* :func:`plan_extraction` — what extraction would do: clips, audio hours, frames per clip,
  store bytes per frontend, clips per ``--shard i/N``.
* :func:`write_random_store` — a latent store of a given shape filled with random float16
  latents (no audio is synthesised; what the store holds says so), to stream pairs from.
* :func:`project` — measured throughputs (``benchmarks/scale.py``) turned into hours and
  bytes for a run of any size on N workers; every assumption is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mvlib.core.config import Config
from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.synth.plan import audio_filename, sensor_params
from mvlib.frontend.extract import shard_clips
from mvlib.frontend.preprocess import n_frames
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter

#: feature size D of each frontend (DAC 44.1 kHz latents; log-mel ``features.n_mels``)
DAC_DIM = 1024
BYTES_PER_VALUE = 2  #: stores hold float16


def clip_table(cfg: SynthConfig, seed: int = 0) -> pd.DataFrame:
    """One row per clip of a synthetic network: ``clip_id, sensor_id, audio_path`` + 8 labels.

    No audio is made and ``audio_path`` names where it would be. A clip's coarse labels are
    drawn from its sensor's source prior (:func:`mvlib.data.synth.plan.sensor_params`) with 1 to
    ``max_sources`` draws, as the synthesiser's plan does, but vectorised per sensor (not
    the exact per-clip plan of :func:`mvlib.data.synth.plan.clip_plan`): 18,510 clips take ~1 s.
    """
    cols = list(taxonomy.coarse_label_columns())
    rng = np.random.default_rng([seed, cfg.seed])
    parts = []
    for s in range(cfg.n_sensors):
        params = sensor_params(cfg, s)
        prior = np.array([params[f"prior_{c}"] for c in cols])
        prior = prior / prior.sum()
        n_src = rng.integers(1, max(cfg.max_sources, 1) + 1, size=cfg.clips_per_sensor)
        p_any = 1.0 - (1.0 - prior[None, :]) ** n_src[:, None]  # (clips, 8)
        labels = (rng.random(p_any.shape) < p_any).astype(np.int8)
        ids = [audio_filename(s, c) for c in range(cfg.clips_per_sensor)]
        part = pd.DataFrame(labels, columns=cols)
        part.insert(0, "audio_path", ["audio/" + i for i in ids])
        part.insert(0, "sensor_id", f"{s:02d}")
        part.insert(0, "clip_id", ids)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def frames_per_clip(duration_s: float, sample_rate: int, hop: int) -> int:
    """Feature frames of a clip: ``ceil(duration · rate / hop)`` (10 s at 44.1 kHz: 862)."""
    return n_frames(int(round(duration_s * sample_rate)), hop)


def store_bytes(n_clips: int, frames: int, dim: int) -> int:
    """Bytes of a float16 latent store's data (the index and header add < 0.1 %)."""
    return int(n_clips) * int(frames) * int(dim) * BYTES_PER_VALUE


def plan_extraction(cfg: Config, clips: pd.DataFrame, shards: int) -> dict:
    """What ``mvlib extract --shard i/N`` for i in 0..N-1 would do on ``clips``.

    Returns
    -------
    dict
        ``clips``, ``audio_hours``, ``frames_per_clip``, ``store_bytes`` (by frontend:
        the profile's, ``logmel`` with ``n_mels`` and ``dac`` with 1024 dims),
        ``shards`` and ``clips_per_shard`` (list, from :func:`mvlib.frontend.extract.shard_clips`).
    """
    f = cfg.features
    per_shard = [len(shard_clips(clips, (i, shards), f.max_clips)) for i in range(shards)]
    n = sum(per_shard)
    frames = frames_per_clip(cfg.synth.duration_s, f.sample_rate, f.hop)
    return {
        "clips": n,
        "duration_s": cfg.synth.duration_s,
        "audio_hours": n * cfg.synth.duration_s / 3600,
        "frames_per_clip": frames,
        "frontend": f.frontend,
        "store_bytes": {
            "logmel": store_bytes(n, frames, f.n_mels),
            "dac": store_bytes(n, frames, DAC_DIM),
        },
        "shards": shards,
        "clips_per_shard": per_shard,
    }


def write_random_store(
    path: str | Path,
    clip_ids: Sequence[str],
    frames: int,
    dim: int,
    seed: int = 0,
    pool: int = 64,
    progress: bool = False,
):
    """A latent store of ``len(clip_ids)`` clips × ``frames`` × ``dim`` random float16 latents.

    Latents are drawn from a pool of ``pool`` random clips plus a per-clip offset, so writing
    a 4 GB store is disk-bound, not RNG-bound. No audio exists behind them: the header's
    identity says ``random-latents`` and its provenance ``dataset: random-latents (no audio)``.
    """
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((pool, frames, dim), dtype=np.float32).astype(np.float16)
    header = {
        "identity": {"frontend": "random-latents", "dim": dim, "frames": frames, "seed": seed},
        "dim": dim,
        "provenance": {"dataset": "random-latents (no audio)"},
    }
    with StoreWriter(path, header) as w:
        for i, cid in enumerate(tqdm(clip_ids, disable=not progress, desc="random store")):
            x = base[i % pool] + np.float16(i % 7)  # (frames, dim)
            w.append(str(cid), x, {})
    return LatentStore(path)


def project(
    measured: dict,
    n_clips: int,
    duration_s: float = 10.0,
    pairs_per_clip: float = 39000 / 18510,
    workers: Sequence[int] = (1, 8, 64),
    gpu_clips_per_s: float | None = None,
    read_gb_per_s: float = 2.0,
    ram_gb: float = 256.0,
) -> pd.DataFrame:
    """Store size, extraction hours and hours per training epoch of a run on N workers.

    The model of time is deliberately simple, and every input is a parameter:

    * extraction: ``n_clips / (clips_per_s · N)``; clips/s of one CPU process is measured
      (log-mel: the whole pipeline; DAC: the encoder on CPU, random weights), clips/s of one
      GPU is ``gpu_clips_per_s`` (not measured here: no GPU was lent), else NaN.
    * an epoch on N processes: ``pairs · (1/compute + 1/stream) / N`` — the loader is
      synchronous, so its time adds to the model's — but never less than the time to read
      the epoch's bytes at ``read_gb_per_s`` when the store is larger than ``ram_gb``
      (otherwise it stays in the page cache after the first epoch).

    Parameters
    ----------
    measured : dict
        ``throughput`` of ``benchmarks/results/scale.json``: ``logmel_clips_per_s``,
        ``dac_clips_per_s``, and ``train_pairs_per_s`` / ``stream_pairs_per_s`` as
        ``{"logmel": …, "dac": …}`` (per process).
    n_clips, duration_s : size of the run.
    pairs_per_clip : pairs per clip and epoch (paper: 39,000 / 18,510 ≈ 2.1).
    workers : the N to tabulate (GPUs, CPU processes, training ranks).
    gpu_clips_per_s : DAC encoder clips/s of one GPU, to plug in.
    read_gb_per_s : aggregate storage read bandwidth of the job, GB/s.
    ram_gb : page cache a node can give the store, GB.

    Returns
    -------
    DataFrame, one row per (frontend, N): ``store_GB``, ``extract_cpu_h``, ``extract_gpu_h``,
    ``epoch_h``, ``bound`` (what sets the epoch time), ``pairs``.
    """
    frames = frames_per_clip(duration_s, 44100, 512)
    pairs = n_clips * pairs_per_clip
    rows = []
    for fe, dim in (("logmel", 128), ("dac", DAC_DIM)):
        size = store_bytes(n_clips, frames, dim)
        cpu = measured.get(f"{fe}_clips_per_s") or math.nan
        gpu = gpu_clips_per_s if fe == "dac" and gpu_clips_per_s else math.nan
        compute = (measured.get("train_pairs_per_s") or {}).get(fe) or math.nan
        stream = (measured.get("stream_pairs_per_s") or {}).get(fe) or math.nan
        for n in workers:
            work = pairs * (1 / compute + 1 / stream) / n
            floor = pairs * 2 * frames * dim * BYTES_PER_VALUE / (read_gb_per_s * 1e9)
            if size <= ram_gb * 1e9:
                floor = 0.0
            slower = "model compute" if 1 / compute >= 1 / stream else "loader"
            rows.append(
                {
                    "frontend": fe,
                    "N": n,
                    "pairs": pairs,
                    "store_GB": size / 1e9,
                    "extract_cpu_h": n_clips / (cpu * n) / 3600,
                    "extract_gpu_h": n_clips / (gpu * n) / 3600,
                    "epoch_h": max(work, floor) / 3600,
                    "bound": "storage read" if floor > work else slower,
                }
            )
    return pd.DataFrame(rows)


def bottleneck(
    measured: dict, n_clips: int, ram_bytes: float, frontend: str = "dac", duration_s: float = 10.0
) -> str:
    """One sentence: where an epoch reads the store from, and which per-process step is slower."""
    frames = frames_per_clip(duration_s, 44100, 512)
    dim = DAC_DIM if frontend == "dac" else 128
    size = store_bytes(n_clips, frames, dim)
    stream = (measured.get("stream_pairs_per_s") or {}).get(frontend) or math.inf
    compute = (measured.get("train_pairs_per_s") or {}).get(frontend) or math.inf
    where = "RAM (page cache)" if size <= ram_bytes else "storage (the store is larger than RAM)"
    slow = "loader" if stream < compute else "model compute"
    return (
        f"{frontend}: store {size / 1e9:,.1f} GB, read from {where}; per process the {slow} "
        f"is the slower step ({compute:.3g} pairs/s compute, {stream:.3g} pairs/s loader)"
    )


def read_bound_processes(
    measured: dict, frontend: str, read_gb_per_s: float, duration_s: float = 10.0
) -> float:
    """N beyond which an epoch of a store larger than RAM is bound by storage reads.

    Equal times: ``P (1/c + 1/s) / N = P · B_pair / R``, so ``N = (1/c + 1/s) · R / B_pair``
    with ``c``, ``s`` the model and loader pairs/s per process (see :func:`project`).
    """
    frames = frames_per_clip(duration_s, 44100, 512)
    dim = DAC_DIM if frontend == "dac" else 128
    c = measured["train_pairs_per_s"][frontend]
    s = measured["stream_pairs_per_s"][frontend]
    pair_bytes = 2 * frames * dim * BYTES_PER_VALUE
    return (1 / c + 1 / s) * read_gb_per_s * 1e9 / pair_bytes
