"""Speed of the batched probe heads against fitting them one at a time, side by side.

``probe_trained_run`` fits, per task, one 2-layer MLP head per (feature set, weight decay):
with z_p, z_s, z_p ⊕ z_s and two weight decays, 6 heads per task, 12 in all. This script plants
a signal in random Gaussian features of the default profile's sizes (288 train, 96 val,
576 test clips; d = 64 / 64 / 128; 8 multi-label sources carried by z_p, 12 sensors
carried by z_s) and times, in one process, one thread, the same config:

* ``sequential``: the loop mvlib used before (one ``MLPProbe`` + ``torch.optim.AdamW`` per
  head, trained one after the other; copied below as the baseline);
* ``one head at a time``: mvlib's batched trainer given a single head per call;
* ``batched per task``: :func:`mvlib.evaluate.probe.fit.fit_probes`, all heads of a task in
  one loop;
* ``batched (probe_features)``: all heads of both tasks in one loop (what
  ``probe_features`` / ``probe_trained_run`` do).

It prints seconds per variant (best of ``--repeat``), the ratios, and the test scores of
each, which agree up to float rounding (same seeds, same protocol). Optionally it also
times ``probe_trained_run`` on a trained run folder (``--run DIR``). Usage::

    python benchmarks/probe.py                      # profile "default" probe config
    python benchmarks/probe.py --epochs 20 --repeat 1   # quick check
    python benchmarks/probe.py --run RUN_DIR [--baseline-src OLD_TREE]

where OLD_TREE is e.g. ``git archive 3744d2f | tar -x -C OLD_TREE`` (mvlib before batching).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from mvlib.core import config
from mvlib.evaluate.metrics import accuracy, jaccard_samples
from mvlib.evaluate.probe.fit import evaluate_probe, fit_probe, fit_probes, probe_features
from mvlib.evaluate.probe.heads import MLPProbe, _score

PREVALENCE = np.array([0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1])


def synthetic(seed: int = 0, n_train=288, n_val=96, n_test=576, d=64, n_sensors=12):
    """Features {z_p, z_s, joint} with a planted signal, labels, and row masks."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    y_src = (rng.random((n, PREVALENCE.size)) < PREVALENCE).astype(np.int64)
    y_sen = rng.integers(0, n_sensors, n)
    a = rng.normal(size=(PREVALENCE.size, d))  # source directions in z_p
    c = rng.normal(size=(n_sensors, d))  # sensor centres in z_s
    z_p = y_src @ a * 0.5 + rng.normal(size=(n, d))
    z_s = c[y_sen] * 0.5 + rng.normal(size=(n, d))
    feats = {"z_p": z_p, "z_s": z_s, "joint": np.hstack([z_p, z_s])}
    part = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    return feats, {"source": y_src, "sensor": y_sen}, part


def sequential_one(x_tr, y_tr, x_va, y_va, y_va_np, task, n_out, weight_decay, cfg, gen):
    """The per-head training loop mvlib used before batching (baseline, kept verbatim)."""
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    model = MLPProbe(x_tr.shape[1], n_out, cfg.hidden, cfg.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss() if task == "source" else nn.CrossEntropyLoss()
    n, bs = x_tr.shape[0], min(cfg.batch_size, x_tr.shape[0])
    best = (-math.inf, math.inf)
    best_state, best_epoch, history, since = None, 0, [], 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(x_va)
            val_loss = float(loss_fn(logits, y_va))
        score = _score(task, y_va_np, logits)
        history.append(score)
        if score > best[0] or (score == best[0] and val_loss < best[1]):
            best, best_epoch, since = (score, val_loss), epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since += 1
            if cfg.patience is not None and since >= cfg.patience:
                break
    return best_state, best_epoch, best[0], best[1], history


def _std(X_tr, X):
    mean, std = X_tr.mean(0), X_tr.std(0)
    return torch.from_numpy(((X - mean) / np.where(std > 1e-8, std, 1.0)).astype(np.float32))


def run_sequential(feats, labels, part, cfg) -> dict:
    """Test score of each feature set's selected head, old loop; {(name, task): score}."""
    tr, va, te = (part == p for p in ("train", "val", "test"))
    out = {}
    with torch.random.fork_rng(devices=[]):
        for task, y in labels.items():
            n_out = y.shape[1] if task == "source" else int(y.max()) + 1
            yt = torch.from_numpy(y.astype(np.float32 if task == "source" else np.int64))
            for name, X in feats.items():
                x_tr, x_va, x_te = (_std(X[tr], X[m]) for m in (tr, va, te))
                best = None
                for wd in cfg.weight_decays:
                    gen = torch.Generator().manual_seed(cfg.seed)
                    r = sequential_one(x_tr, yt[tr], x_va, yt[va], y[va], task, n_out, wd, cfg, gen)
                    if best is None or r[2] > best[2] or (r[2] == best[2] and r[3] < best[3]):
                        best = r
                model = MLPProbe(x_tr.shape[1], n_out, cfg.hidden, cfg.dropout)
                model.load_state_dict(best[0])
                model.eval()
                with torch.no_grad():
                    logits = model(x_te)
                if task == "source":
                    pred = (torch.sigmoid(logits) >= 0.5).long().numpy()
                    out[name, task] = jaccard_samples(y[te], pred, zero_division=1.0)
                else:
                    out[name, task] = accuracy(y[te], logits.argmax(1).numpy())
    return out


def _test_scores(probes: dict, feats, labels, part, task) -> dict:
    te = part == "test"
    key = "jaccard" if task == "source" else "accuracy"
    return {
        (name, task): evaluate_probe(p, feats[name][te], labels[task][te], task)[key]
        for name, p in probes.items()
    }


def run_one_at_a_time(feats, labels, part, cfg) -> dict:
    """mvlib's batched trainer, one head (one feature set, one weight decay) per call."""
    tr, va = part == "train", part == "val"
    out = {}
    for task, y in labels.items():
        k = int(y.max()) + 1 if task == "sensor" else None
        for name, X in feats.items():
            heads = []
            for wd in cfg.weight_decays:
                one = replace(cfg, weight_decays=(wd,))
                heads.append(fit_probe(X[tr], y[tr], X[va], y[va], task, one, n_classes=k))
            best = heads[0]
            for h in heads[1:]:  # the same selection rule as fit_probes
                if h.val_score > best.val_score or (
                    h.val_score == best.val_score and h.val_loss < best.val_loss
                ):
                    best = h
            out.update(_test_scores({name: best}, feats, labels, part, task))
    return out


def run_all(feats, labels, part, cfg) -> dict:
    """:func:`mvlib.evaluate.probe.fit.probe_features` (what ``probe_trained_run`` calls): all
    12 heads at once."""
    res = probe_features(feats, labels["source"], labels["sensor"], part, cfg)
    key = {"source": "jaccard", "sensor": "accuracy"}
    return {(n, t): res[n][t][key[t]] for t in labels for n in feats}


def run_batched(feats, labels, part, cfg) -> dict:
    """:func:`mvlib.evaluate.probe.fit.fit_probes`: every head of a task in one loop."""
    tr, va = part == "train", part == "val"
    out = {}
    for task, y in labels.items():
        k = int(y.max()) + 1 if task == "sensor" else None
        split = {name: (X[tr], X[va]) for name, X in feats.items()}
        probes = fit_probes(split, y[tr], y[va], task, cfg, n_classes=k)
        out.update(_test_scores(probes, feats, labels, part, task))
    return out


def _time(fn, repeat: int):
    best, res = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", help="probe config of this profile")
    ap.add_argument("--epochs", type=int, default=None, help="override probe.epochs")
    ap.add_argument("--repeat", type=int, default=3, help="timings: best of this many")
    ap.add_argument(
        "--run",
        default=None,
        help="also time mvlib.evaluate.probe.run.probe_trained_run on this run",
    )
    ap.add_argument(
        "--baseline-src",
        default=None,
        help="with --run: also time probe_trained_run of the mvlib source tree in this folder",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = config.read_profile(args.profile).probe
    if args.epochs is not None:
        cfg = replace(cfg, epochs=args.epochs)
    feats, labels, part = synthetic()
    n_heads = len(feats) * len(labels) * len(cfg.weight_decays)
    print(f"probe config ({args.profile}): {cfg}")
    print(f"{n_heads} heads: {list(feats)} x {list(labels)} x weight decays {cfg.weight_decays}")
    rows = {}
    for label, fn in (
        ("sequential (old loop)", run_sequential),
        ("one head at a time", run_one_at_a_time),
        ("batched per task", run_batched),
        ("batched (probe_features)", run_all),
    ):
        rows[label] = _time(lambda fn=fn: fn(feats, labels, part, cfg), args.repeat)
    base = rows["sequential (old loop)"][0]
    print(f"\n{'variant':<24}{'seconds':>9}{'x vs old':>10}   test scores (feature.task)")
    for label, (sec, scores) in rows.items():
        s = " ".join(f"{n}.{t}={v:.3f}" for (n, t), v in scores.items())
        print(f"{label:<24}{sec:>9.2f}{base / sec:>10.2f}   {s}")
    one, bat = rows["one head at a time"][0], rows["batched (probe_features)"][0]
    print(f"\nbatched vs one head at a time (same code): {one / bat:.2f}x")
    print(f"batched vs the old sequential loop: {base / bat:.2f}x")
    if args.run:
        time_probe_run(args.run, args.baseline_src, args.repeat)


_PROBE_RUN = """
import sys, time, torch
torch.set_num_threads(1)
try:
    from mvlib.evaluate.probe.run import probe_trained_run as probe
except ImportError:  # a baseline tree (--baseline-src) from before the rename
    from mvlib.evaluate.probe import probe_run as probe
t0 = time.perf_counter()
s = probe(sys.argv[1], progress=False)["summary"]
print(time.perf_counter() - t0, s["source_jaccard"], s["sensor_accuracy"])
"""


def time_probe_run(run: str, baseline_src: str | None, repeat: int) -> None:
    """``probe_trained_run`` on copies of a run, in fresh processes: this mvlib vs a baseline's.

    ``baseline_src``: a source tree of another mvlib (e.g. ``git archive <commit> | tar -x``)
    imported through PYTHONPATH; the run is copied so that neither writes into ``run``.
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import mvlib

    here = str(Path(mvlib.__file__).resolve().parents[1])
    srcs = {"this mvlib": here} | ({"baseline": baseline_src} if baseline_src else {})
    best: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            for label, src in srcs.items():
                dst = Path(tmp) / f"{label.replace(' ', '_')}-{i}"
                shutil.copytree(run, dst)
                env = {**os.environ, "PYTHONPATH": src}
                out = subprocess.run(
                    [sys.executable, "-c", _PROBE_RUN, str(dst)],
                    env=env,
                    cwd=tmp,  # not the checkout: "-c" puts the cwd first on sys.path
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                sec, src_j, sen_a = (float(v) for v in out[-3:])
                if label not in best or sec < best[label][0]:
                    best[label] = (sec, src_j, sen_a)
    print(f"\nprobe_trained_run({run}), best of {repeat}, fresh process each:")
    for label, (sec, src_j, sen_a) in best.items():
        print(f"  {label:<12}{sec:8.2f} s   source_jaccard={src_j:.4f} sensor_accuracy={sen_a:.4f}")
    if "baseline" in best:
        print(f"  ratio baseline / this mvlib: {best['baseline'][0] / best['this mvlib'][0]:.2f}x")


if __name__ == "__main__":
    main()
