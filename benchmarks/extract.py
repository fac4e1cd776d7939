"""Extraction overhead: the whole `extract` pipeline against the bare DAC encoder.

Measured in one run on the same clips (synthetic noise + tones at 22.05 kHz, written to a
temporary folder with soundfile):

(a) wall time of :func:`mvlib.extract.extract` (read, hash, decode, resample, loudness, DAC
    encoder, float16 store writes with fsync), DAC frontend (random-init weights unless real
    ones are found);
(b) bare ``model.encoder`` forward time on the already-preprocessed tensors, already on the
    device, same batch size.

Prints (a)/(b) (goal <= 1.15: preprocessing must hide behind the encoder) and clips/s, and
the log-mel frontend's clips/s through ``extract``. Usage::

    python benchmarks/extract.py --clips 8 --seconds 5 --batch-size 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from mvlib.config import FeatureConfig
from mvlib.extract import extract
from mvlib.features import load_audio, make_frontend, preprocess


def write_clips(folder: Path, n: int, seconds: float, sr: int = 22050) -> pd.DataFrame:
    """``n`` clips of noise plus two tones with a slow amplitude envelope."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    rows = []
    for i in range(n):
        f0, f1 = rng.uniform(100, 4000, size=2)
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 2) * t)
        x = 0.02 * rng.standard_normal(len(t)) + env * (
            0.1 * np.sin(2 * np.pi * f0 * t) + 0.05 * np.sin(2 * np.pi * f1 * t)
        )
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, x.astype(np.float32), sr)
        rows.append((f"clip{i:03d}", str(path)))
    return pd.DataFrame(rows, columns=["clip_id", "audio_path"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_forward_seconds(frontend, cfg: FeatureConfig, clips: pd.DataFrame) -> float:
    """(b): the frontend's model alone on preprocessed batches already on the device."""
    xs = [preprocess(*load_audio(p), cfg) for p in clips["audio_path"]]
    batches = [
        torch.from_numpy(np.stack(xs[i : i + cfg.batch_size]))[:, None].to(frontend.device)
        for i in range(0, len(xs), cfg.batch_size)
    ]  # (B, 1, N) each
    model = frontend.encoder if frontend.name == "dac" else frontend.mel
    _sync(frontend.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            model(x if frontend.name == "dac" else x[:, 0])
    _sync(frontend.device)
    return time.perf_counter() - t0


def warm_up(frontend, cfg: FeatureConfig, clips: pd.DataFrame) -> None:
    """One batch through the frontend: allocator, kernels and thread pools ready for both."""
    x = preprocess(*load_audio(clips["audio_path"][0]), cfg)
    batch = torch.from_numpy(np.stack([x] * min(cfg.batch_size, len(clips))))[:, None]
    frontend(batch)
    _sync(frontend.device)


def run(frontend_name: str, clips: pd.DataFrame, tmp: Path, args) -> dict[str, float]:
    cfg = FeatureConfig(frontend=frontend_name, batch_size=args.batch_size, device=args.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-init warning is expected here
        fe = make_frontend(cfg)
    warm_up(fe, cfg, clips)
    t0 = time.perf_counter()
    rep = extract(
        clips,
        tmp / f"store-{frontend_name}",
        cfg,
        progress=False,
        frontend=fe,
        workers=args.workers,
        processes=args.processes,
    )
    full = time.perf_counter() - t0
    assert rep.n_done == len(clips) and not rep.bad, rep.summary()
    bare = bare_forward_seconds(fe, cfg, clips)
    return {"tag": fe.tag, "device": str(fe.device), "full": full, "bare": bare}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None, help="preprocessing workers")
    p.add_argument(
        "--processes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="preprocess in processes (default: extract's choice)",
    )
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "audio").mkdir()
        clips = write_clips(tmp / "audio", args.clips, args.seconds)
        print(
            f"{args.clips} clips x {args.seconds:g} s at 22050 Hz, batch {args.batch_size}, "
            f"torch threads {torch.get_num_threads()}"
        )
        for name in ("dac", "logmel"):
            r = run(name, clips, tmp, args)
            n = args.clips
            print(
                f"{name:6s} [{r['tag']}, {r['device']}]: extract {r['full']:.2f} s "
                f"({n / r['full']:.2f} clips/s); bare forward {r['bare']:.2f} s "
                f"({n / r['bare']:.2f} clips/s); ratio (a)/(b) = {r['full'] / r['bare']:.3f}"
                + ("  (goal <= 1.15)" if name == "dac" else "")
            )


if __name__ == "__main__":
    main()
