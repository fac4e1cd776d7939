"""Extraction speed: stock DAC encoder vs mvlib's encoder vs the whole `extract` pipeline.

Measured side by side in one process, on the same clips (synthetic noise + tones, written
to a temporary folder with soundfile at ``--sr``, 48 kHz by default like SONYC):

(a) stock: ``dac``'s fp32 ``model.encoder`` (weight-normed convolutions, jit Snake), on the
    preprocessed batches already on the device;
(b) mvlib: :class:`mvlib.frontend.dac_fast.FastEncoder` (weight norm folded, fused Snake) at
    ``--precision``, same batches; its largest relative error per frame against (a), with
    the random-init weights *and* with "trained-like" weights (Snake alphas and weight-norm
    gains spread at random: with random init alpha = 1 and the two formulas agree bit for
    bit, which would hide the error); optionally torch.compile'd (``--compile``: its
    compile time is printed: it pays when the run is longer than compile / saving);
(c) full: :func:`mvlib.frontend.extract.extract` (read, hash, decode in worker threads; resample +
    BS.1770 loudness batched on the device; encoder (b); float16 store writes with fsync).

The (a)/(b) timings alternate ``--reps`` times and the best of each is kept (the machine
is shared: interleaving keeps the ratio fair). Prints clips/s of each, the error, and the
two ratios: (b) speed-up over (a) (goal >= 1.5 on CPU) and (c)/(b) (goal <= 1.15:
preprocessing and I/O hidden behind the encoder). DAC weights are random-init unless
real ones are found (the tag says which). Usage::

    python benchmarks/extract.py --clips 8 --seconds 5 --batch-size 4 [--compile] [--bf16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from mvlib.core.config import FeatureConfig
from mvlib.frontend.audio import load_audio
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.dac_fast import (
    FLOAT16_ROUNDING,
    FastEncoder,
    compile_encoder,
    frame_rel_error,
)
from mvlib.frontend.dac_weights import find_dac_weights, load_dac_weights, random_dac
from mvlib.frontend.extract import extract
from mvlib.frontend.preprocess import preprocess


def write_clips(folder: Path, n: int, seconds: float, sr: int) -> pd.DataFrame:
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


def stock_encoder(cfg: FeatureConfig) -> torch.nn.Module:
    """dac's own encoder with the weights the frontend uses (same search order)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = find_dac_weights(cfg)
        model = load_dac_weights(path) if path is not None else random_dac(cfg.dac_seed)
    return model.encoder.eval().requires_grad_(False)


def trained_like(enc: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """A copy-free perturbation in place: Snake alphas ~ exp(N(0, 0.7)), gains x exp(N(0, 0.3))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("alpha"):
                p.copy_(torch.exp(0.7 * torch.randn(p.shape, generator=g)))
            elif name.endswith("weight_g"):
                p.mul_(torch.exp(0.3 * torch.randn(p.shape, generator=g)))
    return enc


def timed(fn, batches: list[torch.Tensor], device: torch.device) -> tuple[float, list]:
    """Wall time of ``fn`` over all batches (inference mode, device synchronised)."""
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = [fn(x) for x in batches]
    _sync(device)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--sr", type=int, default=48000, help="sample rate of the written files")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    p.add_argument("--reps", type=int, default=2, help="alternating timing repetitions")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd (b)")
    p.add_argument("--workers", type=int, default=None, help="file I/O worker threads")
    p.add_argument("--skip-logmel", action="store_true")
    args = p.parse_args(argv)
    cfg = FeatureConfig(
        frontend="dac", batch_size=args.batch_size, device=args.device, precision=args.precision
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-init warning is expected here
        fe = make_frontend(cfg)
    dev = fe.device
    n = args.clips
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "audio").mkdir()
        clips = write_clips(tmp / "audio", n, args.seconds, args.sr)
        print(
            f"{n} clips x {args.seconds:g} s at {args.sr} Hz, batch {args.batch_size}, "
            f"device {dev}, torch threads {torch.get_num_threads()}, frontend {fe.tag} "
            f"(precision {fe.precision})"
        )
        xs = [preprocess(*load_audio(p), cfg) for p in clips["audio_path"]]
        batches = [
            torch.from_numpy(np.stack(xs[i : i + cfg.batch_size]))[:, None].to(dev)
            for i in range(0, n, cfg.batch_size)
        ]  # (B, 1, N) each, preprocessed, on the device
        stock = stock_encoder(cfg).to(dev)
        fast = fe.encoder
        fast.compile_now()  # the frontend waits for 60 s of audio; the benchmark times it compiled
        with torch.inference_mode():  # warm-up: allocator, oneDNN primitives, thread pools
            stock(batches[0])
            fast(batches[0])
        t_stock, t_fast = [], []
        for _ in range(args.reps):
            t, ref = timed(stock, batches, dev)
            t_stock.append(t)
            t, out = timed(fast, batches, dev)
            t_fast.append(t)
        err = max(frame_rel_error(z, r) for z, r in zip(out, ref))
        # the same comparison with trained-like weights (where the formulas differ)
        stock_t = trained_like(stock)
        fast_t = FastEncoder(stock_t, fe.precision).to(dev)
        with torch.inference_mode():
            err_t = frame_rel_error(fast_t(batches[0]), stock_t(batches[0]))
        del stock_t, fast_t, stock
        bare = min(t_fast)
        print(f"(a) stock fp32 encoder : {n / min(t_stock):7.3f} clips/s  (best of {t_stock})")
        print(
            f"(b) mvlib encoder {fe.precision:4s} : {n / bare:7.3f} clips/s  (best of {t_fast}); "
            f"largest relative error per frame {err:.2e} (random-init weights), "
            f"{err_t:.2e} (trained-like weights); float16 storage rounding "
            f"{FLOAT16_ROUNDING:.2e}"
        )
        if args.compile:
            comp, sec = compile_encoder(fast, batches[0])
            t_comp = [timed(comp, batches, dev)[0] for _ in range(args.reps)]
            saving = (bare - min(t_comp)) / n  # seconds saved per clip
            pays = f"pays after {sec / saving:.0f} clips" if saving > 0 else "never pays here"
            print(
                f"    compiled (b)       : {n / min(t_comp):7.3f} clips/s  (best of {t_comp}); "
                f"compile {sec:.1f} s per input shape: {pays}"
            )
        t0 = time.perf_counter()
        rep = extract(
            clips, tmp / "store-dac", cfg, progress=False, frontend=fe, workers=args.workers
        )
        full = time.perf_counter() - t0
        assert rep.n_done == n and not rep.bad, rep.summary()
        print(f"(c) full extraction    : {n / full:7.3f} clips/s  ({full:.2f} s)")
        print(f"ratio (b)/(a) speed-up : {min(t_stock) / bare:.3f}  (goal >= 1.5 on CPU)")
        print(f"ratio (c)/(b) time     : {full / bare:.3f}  (goal <= 1.15)")
        if not args.skip_logmel:
            lcfg = replace(cfg, frontend="logmel")
            t0 = time.perf_counter()
            lrep = extract(clips, tmp / "store-logmel", lcfg, progress=False, workers=args.workers)
            t = time.perf_counter() - t0
            assert lrep.n_done == n and not lrep.bad, lrep.summary()
            print(f"logmel full extraction : {n / t:7.3f} clips/s  ({t:.2f} s)")


if __name__ == "__main__":
    main()
