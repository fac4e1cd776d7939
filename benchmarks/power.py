"""Power of a paired comparison: how large a difference two runs' test partition can detect.

For two finished runs trained on the same data and splits (e.g. the multi-view model and
the single-view AE, same seed), probe each run's main feature set on both tasks exactly as
:func:`mvlib.evaluate.probe.probe_run` does (fit on downstream train, select on val), predict every
downstream test clip, and measure the per-clip paired differences:

* sensor task: the discordance rate d (clips that one run gets right and the other wrong);
  the per-clip paired SE of the accuracy difference is about ``sqrt(d / n_test)``;
* source task: the standard deviation s of the per-clip Jaccard difference; SE ``s / sqrt(n)``.

The minimum detectable difference at 80% power and alpha 0.05 (two-sided) is about
``2.8 x SE`` for one seed, and ``2.8 x SE / sqrt(seeds)`` when test-clip noise is the only
variation averaged over seeds (seed-to-seed variation adds to it). Also printed: the number
of test clips that would bring the one-seed MDD to ``--target``::

    python benchmarks/power.py RUN_A RUN_B [--seeds 3] [--target 0.03]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mvlib.evaluate.embed import run_embeddings
from mvlib.evaluate.metrics import binarize
from mvlib.evaluate.probe import MAIN_FEATURE, downstream_labels, fit_probe

Z = 2.8  # z_{0.975} + z_{0.8}


def predictions(run_dir) -> dict:
    """Per-test-clip predictions of a run's main feature set on both tasks."""
    run = run_embeddings(run_dir)
    X = run.embeddings[MAIN_FEATURE[run.model.method]]
    y_src, y_sen = downstream_labels(run.clips)
    classes = np.unique(y_sen)
    codes = np.searchsorted(classes, y_sen)
    tr, va, te = (run.partition == p for p in ("train", "val", "test"))
    out = {"clip_id": run.clips["clip_id"].to_numpy()[te]}
    src = fit_probe(X[tr], y_src[tr], X[va], y_src[va], "source", run.cfg.probe)
    pred = binarize(src.predict_scores(X[te]), 0.5).astype(bool)
    true = y_src[te].astype(bool)
    union = (true | pred).sum(axis=1)
    out["jaccard"] = np.where(union > 0, (true & pred).sum(axis=1) / np.maximum(union, 1), 0.0)
    sen = fit_probe(
        X[tr], codes[tr], X[va], codes[va], "sensor", run.cfg.probe, n_classes=len(classes)
    )
    out["correct"] = sen.predict_scores(X[te]).argmax(axis=1) == codes[te]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("--seeds", type=int, default=3, help="seeds averaged in the tables")
    ap.add_argument("--target", type=float, default=0.03, help="wanted MDD")
    args = ap.parse_args(argv)
    a, b = predictions(args.run_a), predictions(args.run_b)
    assert np.array_equal(a["clip_id"], b["clip_id"]), "the runs must share their test clips"
    n = len(a["clip_id"])
    disc = float(np.mean(a["correct"] != b["correct"]))
    se_sen = np.sqrt(disc / n)
    dj = a["jaccard"] - b["jaccard"]
    sd_src = float(dj.std(ddof=1))
    se_src = sd_src / np.sqrt(n)
    report = {
        "n_test": n,
        "sensor": {
            "accuracy_a": float(a["correct"].mean()),
            "accuracy_b": float(b["correct"].mean()),
            "discordance": disc,
            "mdd_one_seed": Z * se_sen,
            f"mdd_{args.seeds}_seeds_clip_noise_only": Z * se_sen / np.sqrt(args.seeds),
            "n_test_for_target_one_seed": int(np.ceil(disc * (Z / args.target) ** 2)),
        },
        "source": {
            "jaccard_a": float(a["jaccard"].mean()),
            "jaccard_b": float(b["jaccard"].mean()),
            "sd_paired_diff": sd_src,
            "mdd_one_seed": Z * se_src,
            f"mdd_{args.seeds}_seeds_clip_noise_only": Z * se_src / np.sqrt(args.seeds),
            "n_test_for_target_one_seed": int(np.ceil((sd_src * Z / args.target) ** 2)),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
