"""One process against torchrun with N processes: wall time and training-loop time, side by side.

Warms the cache once (dataset, latent store), then alternates, ``--reps`` times,

(a) ``mvlib train --profile P`` (one process), and
(b) ``torchrun --standalone --nproc_per_node N -m mvlib train --profile P``,

each into a fresh run folder, and prints per run the wall time (process start to exit:
imports, data preparation, process group, training) and the summed per-epoch seconds of
``losses.csv`` (the training loop alone), and checks that both reach the same validation loss.

    python benchmarks/ddp.py --profile ci --nproc 2 --reps 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loop_seconds(run_dir: Path) -> tuple[float, float]:
    h = pd.read_csv(run_dir / "losses.csv")
    train = h[h["split"] == "train"]
    val = h[h["split"] == "val"]
    return float(train["seconds"].sum()), float(val["total"].min())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="ci")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    env = dict(os.environ)
    bindir = Path(sys.executable).parent
    mvlib = [sys.executable, "-m", "mvlib", "train", "--profile", args.profile, "-q"]
    torchrun = [str(bindir / "torchrun"), "--standalone", "--nproc_per_node", str(args.nproc)]
    torchrun += ["-m", "mvlib", "train", "--profile", args.profile, "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(mvlib + ["--run-dir", str(tmp / "warm")], env)  # dataset + store into the cache
        rows = []
        for rep in range(args.reps):
            for name, cmd in (("1 process", mvlib), (f"torchrun x{args.nproc}", torchrun)):
                d = tmp / f"{rep}-{name.replace(' ', '_')}"
                wall = run(cmd + ["--run-dir", str(d)], env)
                loop, val = loop_seconds(d)
                rows.append({"rep": rep, "run": name, "wall_s": wall, "loop_s": loop, "val": val})
                shutil.rmtree(d)
    df = pd.DataFrame(rows)
    print(f"profile {args.profile}, cache warm, load average {os.getloadavg()[0]:.1f}")
    print(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    med = df.groupby("run")[["wall_s", "loop_s"]].median()
    print(med.to_string(float_format=lambda x: f"{x:.2f}"))
    one, many = med.loc["1 process"], med.loc[f"torchrun x{args.nproc}"]
    print(
        f"torchrun x{args.nproc} / 1 process: wall {many.wall_s / one.wall_s:.2f}, "
        f"training loop {many.loop_s / one.loop_s:.2f}"
    )
    if not ((df["val"] - df["val"].iloc[0]).abs() <= 1e-5 * abs(df["val"].iloc[0])).all():
        print(f"WARNING: validation losses differ: {sorted(df['val'].unique())}")


if __name__ == "__main__":
    main()
