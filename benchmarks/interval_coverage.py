"""Coverage and family-wise error of the book's paired comparisons, before and after.

Draws tables of 8 comparisons from the hierarchical model of
``benchmarks/coverage_sim.py`` (0/1 accuracy and clip Jaccard; S = 3 units as the default
book, S = 12 as ``full.yml``'s 4 split seeds x 3 seeds; clip-independent and
sensor-clustered data with a sensor x configuration logit sd of 0.3) and runs on each

* BEFORE: the retired seed x clip bootstrap with normal quantiles
  (``benchmarks/seed_clip_bootstrap.py``), clips treated as independent;
* TWO-STAGE (one split only): as AFTER, but with the test-set part from a bootstrap that
  draws sensors and then clips within the drawn sensors (the alternative not chosen);
* AFTER: the cluster procedure (``paired_difference(..., clusters=sensor ids)``): sensors
  as clusters, small-sample corrections, Student t with Welch–Satterthwaite df;

with Holm over the table's 8 comparisons. Coverage is measured under the null (every
configuration equal to the reference) and, with ``--shifted``, on tables whose true
differences are not 0. Prints the table and writes ``benchmarks/results/coverage.json``
(machine, date, commit)::

    python benchmarks/interval_coverage.py                   # about 30 min on 2 busy cores
    python benchmarks/interval_coverage.py --tables 60 --old-tables 30 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import coverage_sim as cv  # benchmarks/coverage_sim.py: the simulation, beside this script
import numpy as np
import provenance  # benchmarks/provenance.py: a script beside this one
from scipy import stats
from seed_clip_bootstrap import seed_clip_bootstrap  # the retired procedure, beside this one

from mvlib.core.cache import atomic_write_json
from mvlib.evaluate.significance import paired_difference

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "coverage.json"


def before(n_boot: int):
    def proc(a, b, clusters, seed):
        return seed_clip_bootstrap(a, b, n_boot, seed)

    return proc


def after(a, b, clusters, seed):
    return paired_difference(a, b, clusters=clusters)


def two_stage(n_boot: int):
    """The alternative the cluster procedure was chosen over: sensors, then clips within
    the drawn sensors, both with replacement (one split only), else as ``after``."""

    def proc(a, b, clusters, seed):
        res = paired_difference(a, b, clusters=clusters)
        rng = np.random.default_rng(seed)
        d = np.nanmean(a - b, axis=0)  # (N,) mean over units: units held fixed
        ids, inv = np.unique(clusters, return_inverse=True)
        K = ids.size
        drawn = rng.multinomial(K, np.full(K, 1.0 / K), size=n_boot)  # (B, K)
        total, count = np.zeros(n_boot), np.zeros(n_boot)
        for k in range(K):
            x = d[inv == k]
            w = rng.multinomial(drawn[:, k] * x.size, np.full(x.size, 1.0 / x.size))  # (B, n_k)
            total += w @ x
            count += w.sum(axis=1)
        v_c = float(np.var(total / count, ddof=1)) * K / (K - 1)
        v_u = res.se_units**2
        var = v_u + v_c
        R = a.shape[0]
        den = (v_u**2 / (R - 1) if R > 1 else 0.0) + v_c**2 / (K - 1)
        df = var**2 / den if den > 0 else np.inf
        se = float(np.sqrt(var))
        q = float(stats.t.ppf(0.975, df))
        p = float(2 * stats.t.sf(abs(res.estimate) / se, df)) if se > 0 else np.nan
        est = res.estimate
        return replace(res, se=se, ci_low=est - q * se, ci_high=est + q * se, p=p, df=df)

    return proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=400, help="simulated tables per scenario (after)")
    ap.add_argument("--old-tables", type=int, default=150, help="tables per scenario (before)")
    ap.add_argument("--old-boot", type=int, default=300, help="bootstrap replicates (before)")
    ap.add_argument("--shifted", action="store_true", help="also tables with true differences")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument(
        "--only",
        help="comma-separated procedures to run (before,two-stage,after); the other rows are "
        "kept from the existing results file (its commit and date are kept beside them)",
    )
    args = ap.parse_args(argv)
    scenarios = list(cv.SCENARIOS)
    if args.shifted:
        shifts = (0.0, 0.0, 0.1, -0.1, 0.2, -0.2, 0.3, 0.05)
        scenarios += [replace(s, shifts=shifts) for s in cv.SCENARIOS if s.sd_sensor_config > 0]
    rows = []
    head = f"{'scenario':44s} {'procedure':9s} {'coverage':>14s} {'FWER':>13s} {'unres':>6s}"
    print(head + f" {'mean se':>8s} {'true sd':>8s} {'tables':>6s}", flush=True)
    t0 = time.perf_counter()
    for i, scn in enumerate(scenarios):
        truth = cv.true_differences(scn)
        procs = [("before", before(args.old_boot), args.old_tables)]
        if scn.n_splits == 1:
            procs.append(("two-stage", two_stage(args.old_boot), args.old_tables))
        procs.append(("after", after, args.tables))
        if args.only:
            procs = [p for p in procs if p[0] in args.only.split(",")]
        for name, proc, n in procs:
            m = cv.measure(scn, proc, n, seed=1000 + i, name=name, truth=truth)
            label = scn.label() + (" shifted" if scn.shifts else "")
            m.scenario = label
            rows.append({**m.as_dict(), "scenario_parameters": asdict(scn)})
            print(
                f"{label:44s} {name:9s} {m.coverage:8.3f}±{m.coverage_se:.3f} "
                f"{m.fwer:7.3f}±{m.fwer_se:.3f} {m.unresolved:6.2f} {m.mean_se:8.4f} "
                f"{m.true_sd:8.4f} {m.n_tables:6d}",
                flush=True,
            )
    wall = time.perf_counter() - t0
    kept = {}
    if args.only and OUT.exists():  # rows of the procedures not rerun, from the last full run
        old = json.loads(OUT.read_text())
        ran = {(r["scenario"], r["procedure"]) for r in rows}
        kept = {k: old.get(k) for k in ("commit", "date", "machine")}
        for r in old.get("rows", []):
            if (r["scenario"], r["procedure"]) not in ran:
                rows.append({**r, "from_run": kept})
    order = {"before": 0, "two-stage": 1, "after": 2}
    rows.sort(
        key=lambda r: (
            (
                [s.label() for s in scenarios].index(r["scenario"].removesuffix(" shifted"))
                if r["scenario"].removesuffix(" shifted") in [s.label() for s in scenarios]
                else 99
            ),
            "shifted" in r["scenario"],
            order.get(r["procedure"], 9),
        )
    )
    report = {
        "what": "nominal-95% coverage and Holm FWER (8 comparisons) of the paired comparisons",
        "goal": {"coverage": [0.93, 0.97], "fwer_max": 0.05},
        "procedures": {
            "before": f"seed x clip bootstrap, {args.old_boot} replicates, z quantiles",
            "two-stage": "as after, but sensors then clips within them resampled (one split)",
            "after": "sensors as clusters, bias-corrected parts, Student t, Satterthwaite df",
        },
        "rows": rows,
        "machine": provenance.machine(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": provenance.commit(),
        "wall_s": round(wall, 1),
        "command": "python benchmarks/interval_coverage.py " + " ".join(argv or sys.argv[1:]),
    }
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(OUT, report)
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
