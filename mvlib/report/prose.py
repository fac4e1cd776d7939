"""The chapters' sentences that carry numbers, generated from the results they describe.

A chapter never types a figure: each function here builds a Markdown paragraph from the
current build's tables or from a measured build's results file
(:mod:`mvlib.report.measured`), and the chapter displays it (``display(Markdown(...))``).
A rebuild on another machine or profile therefore states its own numbers, and a figure of
another build names its profile, commit, machine, date and statistical procedure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mvlib.report.comparison import Table, p_text, verdict
from mvlib.report.measured import BuildResult
from mvlib.report.reference import PAPER_TABLE1
from mvlib.report.results import TASKS

__all__ = [
    "choice_firmness",
    "design_candidates",
    "design_choice",
    "power_of_design",
    "measured_build",
    "label_efficiency_summary",
    "paper_gaps",
]


def paper_gaps() -> list[float]:
    """The paper's own Table 1 gaps between its best multi-view row and the single-view
    and frontend-only rows, on both tasks (what this book would need to resolve)."""
    best = PAPER_TABLE1["multiview (best)"]
    return [
        abs(best[i] - PAPER_TABLE1[row][i])
        for row in ("singleview AE", "frontend only")
        for i in range(2)
    ]


def choice_firmness(validation: pd.DataFrame, best: str | None) -> str:
    """How clear the choice on validation is, from the "P(best)" column of the table."""
    if best is None or "P(best)" not in validation or validation.empty:
        return "No multi-view configuration was measured, so none was chosen."
    p = validation["P(best)"].sort_values(ascending=False)
    runner = p.drop(best, errors="ignore")
    text = (
        f"The choice, **{best}**, is the best on validation in {p.get(best, 0.0):.0%} of the "
        "bootstrap replicates"
    )
    if len(runner) and runner.iloc[0] > 0:
        text += f"; the runner-up, {runner.index[0]}, in {runner.iloc[0]:.0%}"
    if p.get(best, 0.0) >= 0.9:
        verdict = "The choice is clear."
    elif p.get(best, 0.0) >= 0.5:
        verdict = "The choice is likely but not firm: another build may pick another row."
    else:
        verdict = "The choice is close to a coin toss: another build may well pick another row."
    return f"{text}. {verdict}"


def _mdd_range(t: Table, task: str) -> str:
    v = t.mdd.get(task)
    if not v:
        return "not measured"
    return f"median {v['median']:.3f} (range {v['min']:.3f}–{v['max']:.3f})"


def power_of_design(t1: Table, t2: Table, profile: str) -> str:
    """What this build's design can resolve: each table's per-row MDDs, against the paper's gaps."""
    c = pd.concat([t1.comparisons, t2.comparisons]) if len(t1.comparisons) else t2.comparisons
    if c.empty:
        return "No comparison was measured in this build."
    units, clips = int(c["n_units"].max()), int(c["n_clips"].max())
    med = float(np.median(c["mdd"]))
    gaps = paper_gaps()
    resolvable = sum(g >= med for g in gaps)
    lines = [
        f"On this build (profile `{profile}`: {units} units × {clips} test clips), the "
        f"per-row minimum detectable difference of Table 1 is {_mdd_range(t1, 'source')} on "
        f"source and {_mdd_range(t1, 'sensor')} on sensor; of Table 2, "
        f"{_mdd_range(t2, 'source')} and {_mdd_range(t2, 'sensor')}. The paper's own Table 1 "
        f"gaps between its best multi-view row and the single-view and frontend-only rows "
        f"are {min(gaps):.3f}–{max(gaps):.3f}: {resolvable} of those {len(gaps)} are at least "
        f"this build's median MDD ({med:.3f})."
    ]
    few = int((~c["resolvable"].astype(bool)).sum()) if "resolvable" in c else 0
    if few:
        lines.append(
            f"{few} of the {len(c)} comparisons have too few units for any verdict: more "
            "seeds (or split seeds) would change that, more test clips would not."
        )
    units_larger = int((c["se_units"] > c["se_sensors"]).sum())
    lines.append(
        f"In {units_larger} of the {len(c)} comparisons the units' part of the SE is the "
        "larger one."
    )
    return " ".join(lines)


def measured_build(build: BuildResult | None, profile: str = "full") -> str:
    """A measured build of another profile in words, from its results file."""
    if build is None:
        return (
            f"No measured build of the `{profile}` profile is available here (its results "
            f"file, `benchmarks/results/book-{profile}.json`, is part of the source "
            f"repository). Measure one with `python benchmarks/book.py --profile {profile}`."
        )
    t1 = [build.mdd_range("table1", t) for t in TASKS]
    t2 = [build.mdd_range("table2", t) for t in TASKS]

    def one(r) -> str:
        if r is None:
            return "—"
        if not build.per_row:
            return f"{r[0]:.3f}"
        return f"{r[0]:.3f} ({r[1]:.3f}–{r[2]:.3f})"

    def pair(v):
        return " / ".join(one(r) for r in v)

    text = (
        f"The profile `params/{build.profile}.yml` ({build.design}) was measured by "
        f"`python benchmarks/book.py --profile {build.profile}` from an empty cache on "
        f"{build.machine_text()} at commit `{build.commit}` ({build.date}): "
        f"{build.wall_s / 60:.1f} min for the whole book."
    )
    commit, date = build.provenance_of("tables")
    when = "" if commit == build.commit else f" (measured at commit `{commit}`, {date})"
    if build.per_row:
        text += (
            f" Under this book's statistical procedure{when}, the per-row minimum detectable "
            f"differences have median (range) {pair(t1)} (source / sensor) in Table 1 and "
            f"{pair(t2)} in Table 2."
        )
        return text + f" Build it with `MVLIB_PROFILE={build.profile} make book`."
    text += (
        f" Its minimum detectable differences{when} are {pair(t1)} (source / sensor) for "
        f"Table 1 and {pair(t2)} for Table 2."
    )
    if build.procedure:
        text += (
            f" Those figures were computed with an earlier statistical procedure "
            f"({build.procedure}: one MDD per table from its largest SE, normal quantiles, "
            f"test clips resampled as independent), so they are not the per-row MDDs above; "
            f"the file `{build.path.name}` records them as measured."
        )
    return text + f" Build it with `MVLIB_PROFILE={build.profile} make book`."


def _unresolved(r: dict) -> str:
    """The verdict of a comparison that is not significant: "not resolved" or "too few units"."""
    return verdict({**r, "significant": False, "resolvable": bool(r.get("resolvable", True))})


def label_efficiency_summary(
    scores: pd.DataFrame, comparisons: pd.DataFrame, reference: str
) -> str:
    """Chapter 6's reading: per task, at the fewest and at all labels, who is ahead of the
    multi-view encoder, with the paired test's verdict (Holm)."""
    if scores.empty:
        return "No label-efficiency scores were measured."
    lines = []
    lo, hi = scores["fraction"].min(), scores["fraction"].max()
    for task, metric in TASKS.items():
        s = scores[scores["task"] == task]
        if s.empty:
            continue
        parts = []
        for f in (lo, hi):
            at = s[s["fraction"] == f]
            top = at.loc[at["estimate"].idxmax()]
            n = at["n_train"].mean()
            c = comparisons[(comparisons["task"] == task) & (comparisons["fraction"] == f)]
            tests = "; ".join(
                f"{r['encoder']} − {reference}: {r['estimate']:+.3f} "
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], Holm p {p_text(r['p_holm'])}"
                + ("" if r["significant"] else f", {_unresolved(r)}")
                for r in c.to_dict("records")
            )
            parts.append(
                f"with {f:.0%} of the labels (≈{n:.0f} clips) the highest {metric} is "
                f"{top['encoder']}'s, {top['estimate']:.3f}" + (f" ({tests})" if tests else "")
            )
        lines.append(f"* **{task}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def _design_of(cfg) -> str:
    """A profile's design in the candidates' notation: ``4s×1k 80c 15e``."""
    k = len(cfg.sweep.split_seeds) or 1
    return f"{len(cfg.sweep.seeds)}s×{k}k {cfg.synth.clips_per_sensor}c {cfg.train.epochs}e"


def design_candidates(design: dict | None) -> pd.DataFrame:
    """The design benchmark's candidates: predicted median MDDs, "too few units", cost."""
    rows = []
    for c in (design or {}).get("candidates", []):
        m = c["summary"]
        rows.append(
            {
                "design (seeds × split seeds, clips/sensor, epochs)": c["design"],
                "Table 1 MDD source / sensor": f"{m['table1 source']:.3f} / {m['table1 sensor']:.3f}",
                "Table 2 MDD source / sensor": f"{m['table2 source']:.3f} / {m['table2 sensor']:.3f}",
                "too few units (of 24)": int(m["too_few"]),
                "cost (s, 2 cores)": round(float(c["cost_s"])),
                "fits": "yes" if c.get("fits") else "no",
            }
        )
    return pd.DataFrame(rows).set_index(rows and list(rows[0])[0] or [])


def design_choice(design: dict | None, cfg) -> str:
    """Which design this profile has and what it traded, from the design benchmark's file."""
    if not design:
        return (
            "No design benchmark is available here (`benchmarks/results/design.json` is part "
            "of the source repository; `python benchmarks/design.py` measures it)."
        )
    mine = _design_of(cfg)
    cands = {c["design"]: c for c in design.get("candidates", [])}
    text = (
        f"`benchmarks/design.py` predicts every candidate design's per-row MDDs from the "
        f"variance components a measured build holds (units' part, sensors' part) and its "
        f"cost from measured chapter times (commit `{str(design['commit'])[:12]}`, "
        f"{str(design['date'])[:10]}; budget {design['budget_s'] / 60:.0f} min on 2 cores)."
    )
    here = cands.get(mine)
    if here is None:
        return text + f" This profile's design, {mine}, is not among its candidates."
    m = here["summary"]
    text += (
        f" This profile's design is {mine}: predicted median MDD {m['table1 source']:.3f} / "
        f"{m['table1 sensor']:.3f} (Table 1, source / sensor), {int(m['too_few'])} rows with "
        f"too few units, {here['cost_s'] / 60:.1f} min."
    )
    better = sorted(
        (c for c in cands.values() if c["summary"]["all"] < m["all"]),
        key=lambda c: c["summary"]["all"],
    )
    fit = [c for c in better[1:] if c.get("fits")]
    for lead, picked in (
        ("most powerful candidate", better[:1]),
        ("most powerful within the budget", fit[:1]),
    ):
        for c in picked:
            text += (
                f" The {lead}, {c['design']}, would reach median MDD {c['summary']['all']:.3f} "
                f"over all rows (this design {m['all']:.3f}) in {c['cost_s'] / 60:.1f} min; "
                f"this design trades that for {_safety(c, here, design['budget_s'])}."
            )
    return text


def _safety(other: dict, mine: dict, budget: float) -> str:
    """What a more powerful design risks that this one does not, in words."""
    why = []
    if other["cost_s"] > budget:
        why.append("staying within the budget")
    if other.get("epochs") != mine.get("epochs"):
        why.append(
            "a training as long as the measured one (the seeds' spread is unmeasured at other lengths)"
        )
    if other["summary"].get("too_few_expected", 0) > 0.5:
        why.append(
            f"no rows lost to too few units by chance (it expects "
            f"{other['summary']['too_few_expected']:.1f}: a splits' part from few split seeds)"
        )
    if other["cost_s"] > 0.9 * budget >= mine["cost_s"]:
        why.append("a 10% margin on the predicted cost")
    return "; ".join(why) or "nothing the benchmark measures"
