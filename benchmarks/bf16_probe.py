"""Effect of bf16 DAC features on a downstream probe, against its minimum detectable difference.

Embeds the held-out-sensor clips of a profile's dataset (default: the CI profile's synthetic
SONYC-format set) with the DAC encoder twice, fp32 and bf16, pools each clip's frames (time
mean and std), runs mvlib's cross-validated linear probe
(:func:`mvlib.evaluate.probe.linear_cv.cross_validated_scores`) on each, and prints both
results with their 95% intervals, their difference, and the minimum detectable difference
of a sensor balanced accuracy over that many clips (two-sided alpha 0.05, power 0.8, unpaired normal
approximation: ``2.8 * sqrt(2 p (1 - p) / n)``).

bf16 is real autocast on a device with bf16 units. Where it is emulated (CPUs without
AVX-512 BF16 / AMX: measured ~15x slower than fp32) ``--simulate`` rounds exactly what
autocast rounds instead (every conv's input, weights, bias and output, every Snake's and
residual sum's output to bf16; fp32 accumulation) at fp32 speed. DAC weights: random-init
unless real ones are found (printed). Usage::

    python benchmarks/bf16_probe.py --profile ci --max-clips 48 --seconds 1 --simulate
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from dataclasses import replace

import numpy as np
import torch

from mvlib.core import config
from mvlib.data import sonyc
from mvlib.data.dataset import ensure_dataset
from mvlib.data.labels import label_matrix
from mvlib.data.splits.make import make_splits
from mvlib.evaluate.probe.linear_cv import cross_validated_scores
from mvlib.frontend.audio import load_audio
from mvlib.frontend.dac_fast import FastEncoder, FastResidualUnit, FusedSnake, frame_rel_error
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.preprocess import preprocess


def _round(module, inputs, output):
    return output.bfloat16().float()


def simulate_bf16(enc: FastEncoder) -> FastEncoder:
    """Round in fp32 what bf16 autocast rounds (in place; returns ``enc``)."""
    assert enc.precision == "fp32"
    for m in enc.modules():
        if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d):
            with torch.no_grad():
                m.weight.copy_(m.weight.bfloat16().float())
                if m.bias is not None:
                    m.bias.copy_(m.bias.bfloat16().float())
            m.register_forward_pre_hook(lambda mod, args: (args[0].bfloat16().float(),))
            m.register_forward_hook(_round)
        elif isinstance(m, FusedSnake | FastResidualUnit):
            m.register_forward_hook(_round)
    return enc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="ci")
    p.add_argument("--max-clips", type=int, default=48)
    p.add_argument("--seconds", type=float, default=1.0, help="crop each clip to this")
    p.add_argument("--device", default="auto")
    p.add_argument("--simulate", action="store_true", help="bf16 by rounding (see above)")
    args = p.parse_args(argv)
    cfg = config.read_profile(args.profile)
    root = ensure_dataset(cfg, progress=False)
    clips = sonyc.load_clips(root)
    splits = make_splits(clips, cfg.split)
    held = clips[clips.sensor_id.isin(splits.sensors["heldout"])].iloc[: args.max_clips]
    fcfg = replace(cfg.features, frontend="dac", device=args.device, precision="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe = DACFrontend(fcfg)
    if args.simulate:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc16 = simulate_bf16(DACFrontend(fcfg).encoder)
    else:
        enc16 = FastEncoder.__new__(FastEncoder)
        enc16.__dict__.update(fe.encoder.__dict__)  # same modules, bf16 autocast
        enc16.precision = "bf16"
    n_keep = int(args.seconds * fcfg.sample_rate) // fcfg.hop * fcfg.hop
    feats: dict[str, list[np.ndarray]] = {"fp32": [], "bf16": []}
    errs = []
    t0 = time.perf_counter()
    for path in held["audio_path"]:
        x = torch.from_numpy(preprocess(*load_audio(path), fcfg)[:n_keep])[None, None]
        x = x.to(fe.device)
        with torch.inference_mode():
            z32 = fe.encoder(x)  # (1, D, T)
            z16 = enc16(x)
        errs.append(frame_rel_error(z16, z32))
        for name, z in (("fp32", z32), ("bf16", z16)):
            z = z[0].T.float().cpu().numpy()  # (T, D)
            feats[name].append(np.concatenate([z.mean(0), z.std(0)]))
    y_src = label_matrix(held, "source")  # (N, 8)
    sensors = label_matrix(held, "sensor")  # (N,)
    labels = {"sensor": sensors, "source": y_src}
    res = {
        k: {t: cross_validated_scores(np.stack(v), y, sensors, t) for t, y in labels.items()}
        for k, v in feats.items()
    }
    n = len(held)
    acc = res["fp32"]["sensor"].score
    mdd = 2.8 * math.sqrt(2 * acc * (1 - acc) / n)
    mode = "simulated by rounding" if args.simulate else "autocast"
    print(
        f"{n} held-out clips x {args.seconds:g} s, {fe.identity['weights']} DAC weights, "
        f"bf16 {mode}, device {fe.device}, {time.perf_counter() - t0:.0f} s"
    )
    print(f"largest relative error per frame bf16 vs fp32: {max(errs):.3e}")
    for t in labels:
        a, b = res["fp32"][t], res["bf16"][t]
        print(
            f"{t} {a.metric}: fp32 {a.score:.4f} [{a.ci_low:.4f}, {a.ci_high:.4f}]  "
            f"bf16 {b.score:.4f} [{b.ci_low:.4f}, {b.ci_high:.4f}]  difference {b.score - a.score:+.4f}"
        )
    print(
        f"minimum detectable difference of sensor balanced accuracy (n={n}, p={acc:.2f}): {mdd:.4f}"
    )


if __name__ == "__main__":
    main()
