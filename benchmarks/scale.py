"""Paper-scale dry run: extraction plan, one epoch of pair streaming, measured throughputs.

On the ``paper-scale`` profile (SONYC-UST-V2's size: 18,510 clips x 10 s, 56 sensors, the
paper's 39k/6k/11k pairs) this

1. plans extraction: clips, audio hours, frames per clip, store bytes, clips per shard;
2. writes a latent store of that shape holding RANDOM float16 latents (log-mel's 128 dims;
   no audio is synthesised for it) and streams one epoch of the training pairs from it
   with :class:`mvlib.ml.batches.BatchLoader` (whole clips, batch 16);
3. measures, in one process on one thread each:
   - log-mel extraction clips/s: the whole ``mvlib.frontend.extract`` pipeline (read, resample,
     loudness, log-mel, store write) on a few real synthetic 10-s clips;
   - DAC encoder clips/s: the 44.1 kHz encoder with random weights on a few seconds of
     audio (encoder only; CPU; no GPU was measured);
   - training pairs/s per process: forward + backward + AdamW step of the multi-view
     model (``model.hidden`` of the profile) on whole-clip batches, log-mel and DAC dims;
   - streaming pairs/s per process for both dims (the loader alone);

and writes everything with machine information to ``benchmarks/results/scale.json``, which
the book's "Scaling out" page reads (it never re-measures)::

    python benchmarks/scale.py                      # full size: 4 GB store, ~minutes
    python benchmarks/scale.py --fraction 0.05 --epoch-pairs 2000   # a quick check

``--fraction f`` writes a store of ``f`` times the clips; pairs then map to store rows
modulo its size (same bytes per pair, but a smaller store stays in the page cache).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import provenance  # benchmarks/provenance.py: a script beside this one
import torch

from mvlib import scale
from mvlib.core.cache import atomic_write_json
from mvlib.core.config import read_profile
from mvlib.core.synth_config import SynthConfig
from mvlib.data import sonyc
from mvlib.data.splits.make import make_splits
from mvlib.data.synth.generation import generate
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.extract import extract
from mvlib.ml.batches import BatchLoader
from mvlib.ml.model import build_model

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"


def machine() -> dict:
    """What the figures were measured on (benchmarks/provenance.py, plus torch's view)."""
    return provenance.machine(
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        torch=str(torch.__version__),
        numpy=np.__version__,
        platform=platform.platform(),
        torch_threads=torch.get_num_threads(),
    )


def logmel_extraction(cfg, n_clips: int, tmp: Path) -> dict:
    """The whole extraction pipeline on ``n_clips`` synthetic 10-s clips (one process)."""
    scfg = SynthConfig(n_sensors=1, clips_per_sensor=n_clips, duration_s=cfg.synth.duration_s)
    root = generate(scfg, tmp / "audio", progress=False)
    clips = sonyc.load_clips(root)
    fcfg = cfg.features.__class__(**{**cfg.features.__dict__, "max_clips": None, "device": "cpu"})
    t0 = time.perf_counter()
    extract(clips, tmp / "logmel-store", fcfg, provenance={"dataset": "synth"}, progress=False)
    secs = time.perf_counter() - t0
    return {"clips": len(clips), "seconds": secs, "clips_per_s": len(clips) / secs}


def dac_encoder(cfg, seconds: float) -> dict:
    """The DAC encoder (random weights, CPU) on ``seconds`` of audio: clips/s of 10-s clips."""
    fcfg = cfg.features.__class__(
        **{**cfg.features.__dict__, "frontend": "dac", "allow_random_dac": True, "device": "cpu"}
    )
    fe = make_frontend(fcfg)
    x = torch.randn(1, 1, int(seconds * fe.sample_rate)) * 0.1  # (1, 1, N)
    fe(x[..., : fe.hop * 8])  # warm-up
    t0 = time.perf_counter()
    fe(x)
    secs = time.perf_counter() - t0
    return {
        "audio_seconds": seconds,
        "seconds": secs,
        "clips_per_s": seconds / secs / cfg.synth.duration_s,
        "weights": fe.identity.get("weights"),
    }


def train_step_rate(cfg, dim: int, frames: int, batch: int, steps: int) -> dict:
    """Pairs/s of forward + backward + AdamW of the multi-view model on random batches."""
    torch.manual_seed(0)
    model = build_model("multiview", dim, cfg.model, cfg.objective)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    from mvlib.ml.losses import model_loss

    x = {"x1": torch.randn(batch, frames, dim), "x2": torch.randn(batch, frames, dim)}
    times = []
    for _ in range(steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        total, _ = model_loss(model, x, cfg.objective)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    secs = float(np.median(times[1:]))
    return {
        "batch": batch,
        "frames": frames,
        "dim": dim,
        "step_s": secs,
        "pairs_per_s": batch / secs,
    }


def stream(store, pairs: np.ndarray, batch: int, limit: int | None) -> dict:
    """One epoch (or ``limit`` pairs) of whole-clip pair batches from the store."""
    n = len(pairs) if not limit else min(limit, len(pairs))
    loader = BatchLoader(store, pairs, batch_size=batch, seed=0, max_batches=-(-n // batch))
    t0 = time.perf_counter()
    seen = 0
    for b in loader:
        seen += len(b["x1"])
    secs = time.perf_counter() - t0
    return {"pairs": seen, "seconds": secs, "pairs_per_s": seen / secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper-scale")
    ap.add_argument("--fraction", type=float, default=1.0, help="store size / the profile's")
    ap.add_argument("--shards", type=int, default=64, help="extraction shards to plan")
    ap.add_argument("--epoch-pairs", type=int, default=None, help="stream at most this many")
    ap.add_argument("--extract-clips", type=int, default=4)
    ap.add_argument("--dac-seconds", type=float, default=4.0)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--train-batch", type=int, default=16)
    ap.add_argument("--workdir", default=None, help="where the store goes (default: a temp dir)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    torch.set_num_threads(1)  # per-process figures: one process per core
    cfg = read_profile(args.profile)
    report = {
        "what": "paper-scale dry run (benchmarks/scale.py)",
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "profile": cfg.profile,
        "args": vars(args),
        "machine": machine(),
        "commit": provenance.commit(),
    }
    t0 = time.perf_counter()
    clips = scale.clip_table(cfg.synth)
    plan = scale.plan_extraction(cfg, clips, args.shards)
    used = clips.iloc[: plan["clips"]].reset_index(drop=True)
    splits = make_splits(used, cfg.split)
    plan["pairs"] = {k: len(v) for k, v in splits.pairs.items()}
    plan["sensors"] = int(used["sensor_id"].nunique())
    plan["seconds"] = time.perf_counter() - t0
    report["plan"] = plan
    print(f"plan: {plan['clips']} clips, {plan['audio_hours']:.1f} h audio, pairs {plan['pairs']}")

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        frames = plan["frames_per_clip"]
        n_store = max(2, int(round(args.fraction * plan["clips"])))
        t0 = time.perf_counter()
        store = scale.write_random_store(
            tmp / "store", used["clip_id"][:n_store], frames, cfg.features.n_mels, progress=True
        )
        write_s = time.perf_counter() - t0
        rows = splits.pairs["train"] % n_store  # (P, 2) clip-table rows -> store rows
        epoch = stream(store, rows, cfg.train.batch_size, args.epoch_pairs)
        report["stream_epoch"] = {
            "store_clips": n_store,
            "store_bytes": scale.store_bytes(n_store, frames, cfg.features.n_mels),
            "fraction": args.fraction,
            "latents": "random float16 (no audio synthesised)",
            "write_seconds": write_s,
            "train_pairs": len(rows),
            **epoch,
        }
        print(f"stream: {epoch['pairs']} pairs in {epoch['seconds']:.1f} s")
        # the loader at DAC's 1024 dims, on a small store (page cache)
        small = scale.write_random_store(
            tmp / "dac-store", [f"d{i}" for i in range(64)], frames, scale.DAC_DIM
        )
        dac_pairs = np.random.default_rng(0).integers(0, 64, size=(128, 2))
        dac_stream = stream(small, dac_pairs, cfg.train.batch_size, None)
        ext = logmel_extraction(cfg, args.extract_clips, tmp)
    print(f"log-mel extraction: {ext['clips_per_s']:.2f} clips/s")
    dac = dac_encoder(cfg, args.dac_seconds)
    print(f"DAC encoder (CPU, random weights): {dac['clips_per_s']:.3f} clips/s")
    tr = {
        fe: train_step_rate(cfg, dim, frames, args.train_batch, args.train_steps)
        for fe, dim in (("logmel", cfg.features.n_mels), ("dac", scale.DAC_DIM))
    }
    for fe, r in tr.items():
        print(f"training ({fe}, {r['dim']} dims): {r['pairs_per_s']:.2f} pairs/s per process")
    report["details"] = {
        "logmel_extraction": ext,
        "dac_encoder": dac,
        "train": tr,
        "dac_stream": dac_stream,
    }
    report["throughput"] = {
        "logmel_clips_per_s": ext["clips_per_s"],
        "dac_clips_per_s": dac["clips_per_s"],
        "dac_gpu_clips_per_s": None,  # no GPU was lent: plug yours into mvlib.scale.project
        "train_pairs_per_s": {fe: r["pairs_per_s"] for fe, r in tr.items()},
        "stream_pairs_per_s": {"logmel": epoch["pairs_per_s"], "dac": dac_stream["pairs_per_s"]},
    }
    atomic_write_json(args.out, report)
    print(args.out)


if __name__ == "__main__":
    main()
