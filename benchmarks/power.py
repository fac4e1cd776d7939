"""Power of a finished sweep: where each table comparison's uncertainty comes from.

Reads the results a sweep left in the cache (chapter 4's, e.g. after
``python benchmarks/book.py --profile full --keep``; nothing is trained or probed), builds
Tables 1 and 2 exactly as chapter 4 does (the multi-view row chosen on validation), and
prints for every paired comparison its estimate, its SE and the two sources of that SE
apart (:class:`mvlib.evaluate.significance.PairedDiff`): ``se_units`` (seeds and split
seeds) and ``se_sensors`` (the test sensors with their clips), then each table's per-row
minimum detectable differences (median and range) per task. Which part dominates says what
a larger design should add: more test sensors shrink ``se_sensors`` only, more (split)
seeds ``se_units``::

    MVLIB_CACHE=/tmp/mvlib-book-cache-XXXX python benchmarks/power.py --profile full
    python benchmarks/power.py --profile default        # the project's own cache
    python benchmarks/power.py --profile default --method seed-clip   # the retired procedure

Output: one line per comparison, the MDD lines, and a JSON line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import provenance  # benchmarks/provenance.py: a script beside this one
from seed_clip_bootstrap import seed_clip_procedure  # the retired procedure, beside this one

from mvlib import load_config  # the public one: `frontend: auto` resolved, as the chapters do
from mvlib.core.cache import atomic_write_json
from mvlib.core.errors import EXIT_CODE, MvlibError, format_error
from mvlib.evaluate.significance import paired_difference
from mvlib.report import claims, tables
from mvlib.report.results import best_multiview
from mvlib.sweep import collect, grid

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default", help="params profile (name or YAML path)")
    ap.add_argument(
        "--n-boot", type=int, default=2000, help="bootstrap replicates (--method seed-clip)"
    )
    ap.add_argument(
        "--method",
        choices=tuple(PROCEDURES),
        default="cluster",
        help="the book's procedure (cluster, default) or the retired seed x clip bootstrap",
    )
    ap.add_argument(
        "--write",
        action="store_true",
        help="record the tables' per-row MDDs (median, range) and the procedure in "
        "benchmarks/results/book-<profile>.json, with this measurement's commit and date",
    )
    args = ap.parse_args(argv)
    cfg = load_config(args.profile)
    entries = grid(cfg.sweep.mask_ratios)
    results = collect(cfg, entries, list(cfg.sweep.seeds))
    if not len(results):
        sys.exit(
            f"mvlib: error: {args.profile}: no finished runs of this profile in the cache; "
            "run its sweep first (chapter 4, `mvlib sweep`) or set MVLIB_CACHE"
        )
    results = results[results.frontend == results.frontend.iloc[0]]
    best, _ = best_multiview(results)
    report = {"profile": cfg.profile, "method": args.method, "best_multiview_on_validation": best}
    report["n_runs"] = len(results)
    report["n_trainings"] = int((results["config"] != "frontend only").sum())
    print(f"profile {cfg.profile}: {len(results)} runs; multi-view row (validation): {best}")
    procedure = paired_difference if args.method == "cluster" else seed_clip_procedure(args.n_boot)
    t1 = tables.table1(results, best, procedure=procedure)
    t2 = tables.table2(results, cfg.sweep.mask_ratios, procedure=procedure)
    for t in (t1, t2):
        c = t.comparisons
        print(f"\n{t.name}: {int(c.n_units.max())} units x {int(c.n_clips.max())} test clips")
        print(
            f"{'comparison':28s} {'task':6s} {'Δ':>8s} {'95% CI':>18s} {'se':>7s} "
            f"{'se_units':>8s} {'se_sensors':>10s}"
        )
        for r in c.itertuples():
            print(
                f"{r.configuration:28s} {r.task:6s} {r.estimate:8.4f} "
                f"[{r.ci_low:7.4f}, {r.ci_high:7.4f}] {r.se:7.4f} "
                f"{r.se_units:8.4f} {r.se_sensors:10.4f}  Holm p {r.p_holm:.2g}  MDD {r.mdd:.3f}  "
                f"{r.verdict}"
            )
        for task, v in t.mdd.items():
            print(
                f"{t.name} {task}: per-row minimum detectable difference median "
                f"{v['median']:.3f}, range {v['min']:.3f}-{v['max']:.3f}"
            )
        report[t.name] = {
            "mdd": t.mdd,
            "comparisons": c[
                ["configuration", "task", "estimate", "ci_low", "ci_high", "se", "se_units"]
                + ["se_sensors", "df", "p_holm", "mdd", "verdict"]
            ].to_dict("records"),
        }
    report["design"] = design_text(cfg, report, int(t1.comparisons["n_clips"].max()))
    report["design_units"] = {  # the same, for benchmarks/design.py's cost calibration
        "seeds": len(cfg.sweep.seeds),
        "split_seeds": len(cfg.sweep.split_seeds) or 1,
        "clips_per_sensor": cfg.synth.clips_per_sensor,
        "epochs": cfg.train.epochs,
    }
    verdicts = claims.claims(results, t1, procedure)
    print("\nchapter 4's reading:")
    for c in verdicts:
        print(f"  {c.verdict:18s} {c.text}")
    report["claims"] = [{"claim": c.text, "verdict": c.verdict} for c in verdicts]
    print(json.dumps(report))
    if args.write:
        report["runs_commits"] = sorted({str(c) for c in results.git_commit.dropna()})
        path = write_tables(cfg.profile, report, args)
        print(f"written: {path}", file=sys.stderr)
    return 0


#: how each procedure is named in a results file (``procedure``)
PROCEDURES = {
    "cluster": "sensors as clusters, bias-corrected variance parts, Student t with "
    "Satterthwaite df, one MDD per comparison",
    "seed-clip": "paired bootstrap seeds x clips, z quantiles, clips independent",
}


def design_text(cfg, report: dict, test_clips: int) -> str:
    """The measured design in words: units, test clips, trainings."""
    seeds, splits = len(cfg.sweep.seeds), len(cfg.sweep.split_seeds) or 1
    units = f"{seeds} seeds"
    if splits > 1:
        units = f"{splits} split seeds × {seeds} seeds ({splits * seeds} units)"
    return f"{units} × {test_clips} test clips, {report['n_trainings']} trainings"


def write_tables(profile: str, report: dict, args) -> Path:
    """Put the tables' MDDs into ``benchmarks/results/book-<profile>.json`` (temp, rename).

    Written under ``tables`` (with chapter 4's claims and its multi-view row) and their own
    provenance, ``tables_measured`` (commit, date, machine, command), since they are
    computed from a build's runs after the build.
    """
    path = RESULTS / f"book-{profile}.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["tables"] = {
        name: {
            "mdd": {
                task: {k: round(float(v), 4) for k, v in m.items()}
                for task, m in report[name]["mdd"].items()
            },
            "comparisons": [
                {k: (round(float(v), 5) if isinstance(v, float) else v) for k, v in row.items()}
                for row in report[name]["comparisons"]
            ],
        }
        for name in ("table1", "table2")
    }
    record["best_multiview_on_validation"] = report["best_multiview_on_validation"]
    record["design"], record["design_units"] = report["design"], report["design_units"]
    record["claims"] = report["claims"]
    record["procedure"] = args.method
    record["procedure_note"] = PROCEDURES[args.method]
    record["tables_measured"] = {
        "commit": provenance.commit(),
        "date": datetime.date.today().isoformat(),
        "machine": provenance.machine(),
        "command": f"python benchmarks/power.py --profile {profile} --method {args.method} "
        "--write",
        "runs_commits": report["runs_commits"],  # the code that trained and probed the runs
        "runs": f"{report['n_runs']} finished runs of the profile's sweep",
    }
    kept = record.pop("kept_from", None) or {}
    rewritten = ("tables", "procedure", "procedure_note", "best_multiview_on_validation")
    rewritten += ("claims", "design", "design_units", "tables_measured")
    fields = [f for f in kept.get("fields", ()) if f not in rewritten]
    if fields:  # what is still an earlier measurement's
        record["kept_from"] = {**kept, "fields": fields}
    atomic_write_json(path, record)
    return path


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MvlibError as e:  # one line, as the command line prints it
        print(format_error(e), file=sys.stderr)
        sys.exit(EXIT_CODE)
