"""Three sweeps at once on one cache against one sweep alone: do they share the work?

Several sweeps on one cache (a notebook and a terminal, a Slurm array) claim each run before
they start a worker for it (:func:`mvlib.sweep.claim`; the worker then holds the run's lock,
:mod:`mvlib.ml.runlock`) and pass over the runs another one has claimed, so together they
should take about as long as one sweep doing all the work, not three times as long. Each side
starts from an empty cache, so both include the work that must be done once (the dataset
and the latent store), measured on its own as ``shared_s``::

    python benchmarks/concurrent_sweeps.py            # ci data, 2 configurations x 2 seeds
    python benchmarks/concurrent_sweeps.py --sweeps 4
    python benchmarks/concurrent_sweeps.py --epochs 10 --repeat 1   # longer runs
    python benchmarks/concurrent_sweeps.py --workers 1 --repeat 1   # no worker processes

Each side is then run again on its finished cache (every run skipped), which measures
what starting the processes costs; what the concurrent side takes beyond one sweep plus
that is the work it did not share. Prints the medians of ``--repeat`` repetitions side by
side and their ratio, and writes
``benchmarks/results/concurrent.json`` (profile, commit, machine, date).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import provenance  # benchmarks/provenance.py: a script beside this one

from mvlib.core.cache import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
ONLY = ("rec", "rec + cos- sample")
SEEDS = "0,1"
PROFILE = (
    "inherits: ci\ntrain:\n  epochs: {epochs}\nprobe:\n  epochs: 5\nsweep:\n  workers: {workers}\n"
)


def _cmd(*args) -> list[str]:
    return [sys.executable, "-m", "mvlib", *map(str, args)]


def _sweep(profile: Path) -> list[str]:
    cmd = _cmd("sweep", "--profile", profile, "--seeds", SEEDS, "-q")
    for name in ONLY:
        cmd += ["--only", name]
    return cmd


def _timed(cmds: list[list[str]], cache: Path) -> float:
    env = {**os.environ, "MVLIB_CACHE": str(cache)}
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in cmds
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"benchmark: a process failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=int, default=3, help="sweeps started at once")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (medians are reported)")
    ap.add_argument("--epochs", type=int, default=1, help="training epochs of each run")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of each sweep")
    args = ap.parse_args(argv)
    rows = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="mvlib-concurrent-") as tmp:
            tmp = Path(tmp)
            profile = tmp / "tiny.yml"
            profile.write_text(PROFILE.format(epochs=args.epochs, workers=args.workers))
            row = {"shared": _timed([_cmd("extract", "--profile", profile, "-q")], tmp / "shared")}
            row["one"] = _timed([_sweep(profile)], tmp / "one")
            row["many"] = _timed([_sweep(profile)] * args.sweeps, tmp / "many")
            # the same again on the finished caches: every run is skipped, so what is left
            # is starting the processes and checking the runs
            row["one_done"] = _timed([_sweep(profile)], tmp / "one")
            row["many_done"] = _timed([_sweep(profile)] * args.sweeps, tmp / "many")
        rows.append(row)
        print(f"repetition {i + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in row.items()))
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    ratio = med["many"] / med["one"]
    start_extra = med["many_done"] - med["one_done"]
    beyond = med["many"] - med["one"] - start_extra
    print(f"shared work alone (dataset + store, `mvlib extract`): {med['shared']:.1f} s")
    print(f"one sweep from an empty cache: {med['one']:.1f} s")
    print(f"{args.sweeps} sweeps at once from an empty cache: {med['many']:.1f} s")
    print(f"ratio {ratio:.2f} ({args.sweeps} together / one alone; medians of {args.repeat})")
    print(
        f"of the {med['many'] - med['one']:.1f} s more, starting {args.sweeps - 1} more processes "
        f"(a finished sweep: {med['one_done']:.1f} s alone, {med['many_done']:.1f} s "
        f"{args.sweeps} at once) takes {start_extra:.1f} s; left beyond it: {beyond:.1f} s"
    )
    result = {
        "what": f"{args.sweeps} `mvlib sweep` at once on one empty cache vs one alone "
        f"({len(ONLY)} configurations x 2 seeds, ci data, {args.epochs} epoch(s), "
        f"{args.workers} worker(s) per sweep)",
        "command": "python benchmarks/concurrent_sweeps.py"
        + " ".join([""] + (argv or sys.argv[1:])),
        "profile": f"ci ({args.epochs} epoch(s))",
        "commit": provenance.commit(),
        "date": datetime.date.today().isoformat(),
        "machine": provenance.machine(),
        "repeat": args.repeat,
        "sweeps": args.sweeps,
        "shared_s": round(med["shared"], 1),
        "one_s": round(med["one"], 1),
        "many_s": round(med["many"], 1),
        "ratio": round(ratio, 2),
        "one_finished_s": round(med["one_done"], 1),
        "many_finished_s": round(med["many_done"], 1),
        "beyond_startup_s": round(beyond, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "concurrent"
    name += "" if args.epochs == 1 else f"-{args.epochs}epochs"
    name += "" if args.workers == 2 else f"-{args.workers}worker"
    name += ".json"
    atomic_write_json(RESULTS / name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
