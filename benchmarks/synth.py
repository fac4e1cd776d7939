"""Synthetic-set generation speed (clips/s of ``mvlib.data.synth.generation``), filter design cost.

Measured side by side in one process (the machine may be shared: runs alternate and the
best of ``--reps`` is kept for each):

(a) ``generate`` (``workers=1``, a fresh temporary folder each run, so the wav writes and
    their fsync are included) of the default profile's generator at ``--sensors`` x
    ``--clips`` clips of 1.0 s and of 2.5 s, at 22.05 kHz: clips/s and ms per clip;
(b) the same with every Butterworth design done by stock ``scipy.signal.butter``
    (uncached) instead of :mod:`mvlib.data.synth.filters`, to show what closed-form design saves
    inside ``generate`` (the audio is the same to float rounding);
(c) filter design alone, per call: stock ``scipy.signal.butter(..., fs=sr, output="sos")``
    vs the closed form (memo bypassed) and a memo hit, over the kinds, orders and corners
    the synthesiser asks for; the ratio stock / closed form, and the largest coefficient
    difference between the two.

Usage::

    PYTHONPATH=. python benchmarks/synth.py [--sensors 4] [--clips 10] [--reps 3]

``--durations 1.0 2.5`` picks clip lengths. ``--baseline FILE`` also times another version of
the generator module side by side (interleaved, same clips), e.g. the one before this
speed-up::

    git show 3744d2f:mvlib/data/synth.py > /tmp/synth_before.py
    PYTHONPATH=. python benchmarks/synth.py --baseline /tmp/synth_before.py

and prints the per-clip speed-up of ``generate`` over it (the goal: >= 2x at 1.0 and 2.5 s),
plus (d): the audio path alone (plan, render, WAV bytes; no disk, so no fsync), the two
versions alternating clip by clip, as the median of the per-clip time ratios (robust to a
shared machine's load drifting during the run). The figures quoted in the README came from this
script on a 2-core machine; they move with load, the ratios less so.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import types
from contextlib import contextmanager

import numpy as np

from mvlib.core.config import read_profile
from mvlib.data.synth import channel as synth_channel
from mvlib.data.synth import dsp as synth_dsp
from mvlib.data.synth import filters
from mvlib.data.synth import generation as synth_generation
from mvlib.data.synth import plan as synth_plan

#: this mvlib's synthesiser under the names a single-file ``synth.py`` baseline has
synth = types.SimpleNamespace(
    generate=synth_generation.generate,
    sensor_params=synth_plan.sensor_params,
    clip_plan=synth_plan.clip_plan,
    apply_drift=synth_plan.apply_drift,
    synthesize_clip=synth_channel.synthesize_clip,
)


def _design_cases(n: int, sr: int, seed: int = 0) -> list[tuple]:
    """Designs like the synthesiser's: random corners in its ranges, every kind and order."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        cases.append((2, float(rng.uniform(20.0, 500.0)), "highpass"))  # mic low-cut
        cases.append((2, float(rng.uniform(3000.0, 10000.0)), "lowpass"))  # mic high-cut
        cases.append((1, float(rng.uniform(3000.0, 8000.0)), "lowpass"))  # air absorption
        cases.append((2, (80.0, float(rng.uniform(3000.0, 8000.0))), "bandpass"))  # impacts
        f, bw = float(rng.uniform(800.0, 3000.0)), float(rng.uniform(90.0, 500.0))
        cases.append((1, (f - bw / 2, f + bw / 2), "bandpass"))  # formants
    return cases


def bench_design(sr: int, n: int, reps: int) -> dict:
    cases = _design_cases(n, sr)
    closed = filters._design.__wrapped__  # the closed form without the memo

    def keyed(order, freq, kind):
        return (order, tuple(freq) if kind == "bandpass" else (freq,), kind, float(sr))

    keys = [keyed(*c) for c in cases]
    worst = max(
        float(np.abs(filters.scipy_sos(o, f, k, sr) - closed(*key)).max())
        for (o, f, k), key in zip(cases, keys)
    )
    best = {"stock": np.inf, "closed": np.inf, "memo": np.inf}
    for _ in range(reps):
        t = time.perf_counter()
        for o, f, k in cases:
            filters.scipy_sos(o, f, k, sr)
        best["stock"] = min(best["stock"], (time.perf_counter() - t) / len(cases))
        t = time.perf_counter()
        for key in keys:
            closed(*key)
        best["closed"] = min(best["closed"], (time.perf_counter() - t) / len(cases))
        for o, f, k in cases:  # fill the memo, then time hits
            filters.butter_sos(o, f, k, sr)
        t = time.perf_counter()
        for o, f, k in cases:
            filters.butter_sos(o, f, k, sr)
        best["memo"] = min(best["memo"], (time.perf_counter() - t) / len(cases))
    return {**best, "calls": len(cases), "max_abs_diff": worst}


@contextmanager
def stock_designs():
    """Route mvlib.data.synth's Butterworth designs through stock scipy (uncached)."""
    users = (synth_dsp, synth_channel)  # the modules that design filters
    saved = [m.butter_sos for m in users]
    for m in users:
        m.butter_sos = filters.scipy_sos
    try:
        yield
    finally:
        for m, f in zip(users, saved):
            m.butter_sos = f


def time_generate(cfg, module=synth) -> float:
    with tempfile.TemporaryDirectory(prefix="mvlib-bench-synth-") as d:
        t = time.perf_counter()
        module.generate(cfg, d + "/set", progress=False, workers=1)
        return time.perf_counter() - t


def _audio_path(module):
    """(a clip's audio-stream generator, WAV bytes) of this mvlib's synth package, or of an
    older single-file ``synth.py`` (``_rng``, ``_AUDIO``, ``_wav_bytes`` at its top)."""
    if module is synth:
        rng = lambda cfg, s, c: synth_plan.stream_rng(cfg, synth_plan.AUDIO, s, c)  # noqa: E731
        return rng, synth_generation._wav_bytes
    return (lambda cfg, s, c: module._rng(cfg, module._AUDIO, s, c)), module._wav_bytes


def clip_ratios(cfg, baseline, reps: int) -> tuple[float, float, float]:
    """(d): per-clip audio-path times of mvlib and ``baseline``, alternating; medians, ms."""
    ours, theirs = [], []
    for rep in range(reps):
        for s in range(cfg.n_sensors):
            for c in range(cfg.clips_per_sensor):
                pair = [(synth, ours), (baseline, theirs)]
                for module, acc in pair if (s + c + rep) % 2 else pair[::-1]:
                    t = time.perf_counter()
                    params = module.sensor_params(cfg, s)
                    plan = module.clip_plan(cfg, s, c, params)
                    audio_rng, wav_bytes = _audio_path(module)
                    y = module.synthesize_clip(
                        cfg,
                        module.apply_drift(params, plan["drift"]),
                        plan["sources"],
                        audio_rng(cfg, s, c),
                    )
                    wav_bytes(y, cfg.sample_rate)
                    acc.append(time.perf_counter() - t)
    ours, theirs = np.array(ours), np.array(theirs)
    return 1e3 * np.median(ours), 1e3 * np.median(theirs), float(np.median(theirs / ours))


def load_baseline(path: str):
    """Import another version of mvlib/data/synth.py (it imports the rest of mvlib as installed)."""
    spec = importlib.util.spec_from_file_location("synth_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--clips", type=int, default=10, help="clips per sensor")
    ap.add_argument("--durations", type=float, nargs="+", default=[1.0, 2.5])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--design-calls", type=int, default=200, help="x5 designs timed")
    ap.add_argument("--baseline", help="another synth.py to time side by side (e.g. before)")
    args = ap.parse_args()
    baseline = load_baseline(args.baseline) if args.baseline else None

    base = read_profile("default", {}).synth
    sr = int(base.sample_rate)
    n_clips = args.sensors * args.clips
    print(
        f"mvlib.data.synth.generation.generate, workers=1, "
        f"{args.sensors} sensors x {args.clips} clips, {sr} Hz"
    )
    warm = read_profile("default", {"synth.n_sensors": 1, "synth.clips_per_sensor": 2}).synth
    time_generate(warm)  # imports, taxonomy, first-call costs
    if baseline is not None:
        time_generate(warm, baseline)
    for dur in args.durations:
        cfg = read_profile(
            "default",
            {
                "synth.n_sensors": args.sensors,
                "synth.clips_per_sensor": args.clips,
                "synth.duration_s": dur,
            },
        ).synth
        best = {"mvlib": np.inf, "stock": np.inf, "baseline": np.inf}
        for _ in range(args.reps):
            best["mvlib"] = min(best["mvlib"], time_generate(cfg))
            with stock_designs():
                best["stock"] = min(best["stock"], time_generate(cfg))
            if baseline is not None:
                best["baseline"] = min(best["baseline"], time_generate(cfg, baseline))
        for name, label in (("mvlib", "closed-form designs"), ("stock", "scipy.signal.butter")):
            s = best[name]
            print(
                f"  {dur:.1f} s clips, {label:20s}: {n_clips / s:7.1f} clips/s  "
                f"{1000 * s / n_clips:6.1f} ms/clip"
            )
        ratio = best["stock"] / best["mvlib"]
        print(f"  {dur:.1f} s clips, speed-up from the designs alone: {ratio:.2f}x")
        if baseline is not None:
            s = best["baseline"]
            print(
                f"  {dur:.1f} s clips, baseline {args.baseline}: {n_clips / s:7.1f} clips/s  "
                f"{1000 * s / n_clips:6.1f} ms/clip; speed-up {s / best['mvlib']:.2f}x"
            )
            ours, theirs, ratio = clip_ratios(cfg, baseline, args.reps)
            print(
                f"  {dur:.1f} s clips, audio path per clip (median): mvlib {ours:.1f} ms, "
                f"baseline {theirs:.1f} ms; median per-clip speed-up {ratio:.2f}x"
            )
    d = bench_design(sr, args.design_calls, args.reps)
    print(
        f"filter design per call ({d['calls']} synth-like designs, {sr} Hz, best of {args.reps}):"
    )
    print(f"  scipy.signal.butter(..., output='sos'): {1e6 * d['stock']:8.1f} us")
    print(f"  mvlib.data.synth.filters closed form (no memo)  : {1e6 * d['closed']:8.1f} us")
    print(f"  mvlib.data.synth.filters.butter_sos memo hit    : {1e6 * d['memo']:8.1f} us")
    print(f"  ratio stock / closed form            : {d['stock'] / d['closed']:8.1f}x")
    print(f"  largest |coefficient difference|     : {d['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
