"""The worlds x frontends study from an empty cache: its results and its wall time.

Runs ``mvlib worlds`` (:func:`mvlib.worlds.run_study`) on a profile (default
``params/worlds.yml``) with a fresh ``MVLIB_CACHE`` (every world's set, every latent store,
every run made), so that the wall time is what a researcher waits for on 2 CPU cores::

    python benchmarks/worlds.py                         # every world x frontend (~1 h)
    python benchmarks/worlds.py --profile ci            # a small profile, to check the script
    python benchmarks/worlds.py --cache /tmp/w          # resume an interrupted measurement

The results, with the machine beside them, go to ``benchmarks/results/worlds-<profile>.json``
(``worlds.json`` for the worlds profile), from which the book's chapter *Where multi-view
learning helps* takes every figure. A resumed measurement says so (``resumed``): its wall
time is not from an empty cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import provenance  # benchmarks/provenance.py: a script beside this one

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="worlds", help="params profile (name or YAML path)")
    ap.add_argument("--cache", help="MVLIB_CACHE to use (default: a fresh temporary folder)")
    ap.add_argument("--worlds", help="comma-separated worlds (default: all)")
    ap.add_argument("--frontends", help="comma-separated frontends (default: all)")
    args = ap.parse_args(argv)
    cache = Path(args.cache or tempfile.mkdtemp(prefix="mvlib-worlds-cache-"))
    resumed = cache.exists() and any(cache.iterdir())
    os.environ["MVLIB_CACHE"] = str(cache)  # before mvlib reads it
    from mvlib import load_config  # after MVLIB_CACHE is set: the cache this run measures
    from mvlib.core.cache import atomic_write_json
    from mvlib.report.worlds import study_file, summary_lines
    from mvlib.worlds import run_study

    cfg = load_config(args.profile)
    print(f"cache {cache}{' (resumed)' if resumed else ' (empty)'}", flush=True)
    res = run_study(
        cfg,
        worlds=args.worlds.split(",") if args.worlds else None,
        frontends=args.frontends.split(",") if args.frontends else None,
    )
    res["command"] = "python benchmarks/worlds.py " + " ".join(argv or sys.argv[1:])
    res["machine"] = provenance.machine()
    res["date_source"] = "the end of this measurement"
    res["resumed"] = resumed
    out = study_file(args.profile, RESULTS)
    atomic_write_json(out, res)
    for line in summary_lines(res):
        print(line)
    print(f"wall {res['wall_s']:.0f} s; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
