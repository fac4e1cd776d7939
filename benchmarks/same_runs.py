"""Did a change leave the results alone? Two sweeps' runs compared, bit for bit.

Run the same sweep from an empty cache at two commits (say before and after a refactor),
then compare the runs: they are matched by configuration and seed (from each run's
``results.json``), and every array of their ``predictions.npz`` (per-clip probe outputs
and scores) and every summary score must be equal::

    git worktree add /tmp/old OLD_COMMIT
    MVLIB_CACHE=/tmp/cache-old PYTHONPATH=/tmp/old python -m mvlib sweep --profile default
    MVLIB_CACHE=/tmp/cache-new python -m mvlib sweep --profile default
    python benchmarks/same_runs.py /tmp/cache-old/runs/default /tmp/cache-new/runs/default

Prints one line per run that differs and a summary; exits 1 when any run differs or is
missing on one side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SCORES = ("source_jaccard", "sensor_accuracy", "source_micro_auprc", "best_epoch")


def runs_of(folder: Path) -> dict[tuple, Path]:
    """Run folders of a sweep, keyed by configuration and seed (not by folder name)."""
    out = {}
    for f in sorted(Path(folder).glob("*/results.json")):
        s = json.loads(f.read_text())["summary"]
        if f.parent.name.startswith("frontend-"):
            key = ("frontend", s.get("seed"))
        else:
            key = (s["method"], s.get("objective"), s.get("level"), s.get("mask_ratio"))
            key += (s.get("supervised_task"), s.get("seed"))
        out[key] = f.parent
    return out


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two runs: summary scores, then predictions arrays."""
    sa, sb = (json.loads((r / "results.json").read_text())["summary"] for r in (a, b))
    out = [f"{k}: {sa.get(k)} vs {sb.get(k)}" for k in SCORES if sa.get(k) != sb.get(k)]
    with np.load(a / "predictions.npz") as za, np.load(b / "predictions.npz") as zb:
        if set(za.files) != set(zb.files):
            out.append(f"predictions hold other arrays: {sorted(set(za.files) ^ set(zb.files))}")
        out += [f"{k} differs" for k in za.files if k in zb.files and not _equal(za[k], zb[k])]
    return out


def _equal(x: np.ndarray, y: np.ndarray) -> bool:
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    nan_ok = np.issubdtype(x.dtype, np.inexact)  # NaN == NaN for floats; ids compare as they are
    return bool(np.array_equal(x, y, equal_nan=nan_ok))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path, help="runs folder of the first sweep")
    ap.add_argument("after", type=Path, help="runs folder of the second sweep")
    args = ap.parse_args(argv)
    a, b = runs_of(args.before), runs_of(args.after)
    only = sorted(set(a) ^ set(b), key=str)
    n_arrays, bad = 0, 0
    for key in sorted(set(a) & set(b), key=str):
        diff = differences(a[key], b[key])
        with np.load(a[key] / "predictions.npz") as z:
            n_arrays += len(z.files)
        if diff:
            bad += 1
            print(f"differs: {key}: {'; '.join(diff)}")
    for key in only:
        print(f"only on one side: {key}")
    same = len(set(a) & set(b)) - bad
    print(
        f"{same} of {len(set(a) | set(b))} runs identical ({n_arrays} prediction arrays "
        f"compared); {bad} differ; {len(only)} on one side only"
    )
    return 1 if bad or only else 0


if __name__ == "__main__":
    sys.exit(main())
