"""The paper's claims (section 4.1), each given a verdict by the book's paired tests.

A claim **holds** where every test it rests on is significant after Holm's correction in
the paper's direction, is **contradicted** where one is significant in the opposite
direction, and is **not resolved** otherwise (its differences cannot be told from zero by
this design: see the per-row MDD of the tables). Claims on single rows of Table 1 read
that table's corrected tests; the contrasts that pool rows (cos− against cos+, masking's
DSCΔ) run their own paired tests with Holm over their own family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mvlib.evaluate.significance import MIN_DF, holm_verdicts, paired_difference
from mvlib.report.comparison import ALPHA, Procedure, Table, p_text
from mvlib.report.results import TASKS, best_multiview, clip_sensors, common, per_clip_matrix

__all__ = ["Claim", "claims", "reading", "claim_line"]

HOLDS, CONTRADICTED, UNRESOLVED, UNMEASURED = (
    "holds here",
    "contradicted here",
    "not resolved here",
    "not measured",
)
EXPLAIN = (
    "'Holds' needs every test the claim rests on to be significant after Holm's correction "
    "in the paper's direction; 'contradicted' means one is significant in the opposite "
    "direction; 'not resolved' means the differences cannot be told from zero by this design "
    "(see the per-row minimum detectable difference of each table)."
)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and its verdict here."""

    text: str
    verdict: str  #: holds here | contradicted here | not resolved here | not measured
    detail: str  #: the tests behind it, in words


def _decide(outcomes: list | None) -> str:
    """``outcomes`` = [(Δ signed so that > 0 is the paper's direction, significant)]."""
    if not outcomes or any(not np.isfinite(e) for e, _ in outcomes):
        return UNMEASURED
    if all(e > 0 and sig for e, sig in outcomes):
        return HOLDS
    if any(e < 0 and sig for e, sig in outcomes):
        return CONTRADICTED
    return UNRESOLVED


def claim_line(text: str, outcomes: list | None, detail: str) -> str:
    """A claim's Markdown bullet with its verdict (see :func:`_decide`)."""
    verdict = _decide(outcomes)
    if verdict == UNMEASURED:
        return f"* {text} — **{UNMEASURED}**."
    return f"* {text} — **{verdict}** ({detail})."


def _row_test(t: Table, label: str, task: str) -> tuple[float, bool, str]:
    """(Δ row − reference, significant after Holm, text) of one comparison of a table."""
    c = t.comparisons
    r = c[(c["configuration"] == label) & (c["task"] == task)] if len(c) else c
    if r.empty:
        return math.nan, False, "not measured"
    r = r.iloc[0]
    sig = bool(r["significant"])
    text = f"Δ {r['estimate']:+.3f}, Holm p {p_text(r['p_holm'])}"
    return float(r["estimate"]), sig, text + ("" if sig else f", {_no_verdict(r)}")


def _no_verdict(r) -> str:
    """Why a test is not significant: its p, or units too few to carry any verdict (the
    table's "too few units", whatever the p)."""
    if bool(r.get("resolvable", True)):
        return "not significant"
    units = int(r.get("n_units", 0))
    if units < 2:
        return f"too few units for a verdict ({units} unit: the seeds' spread is not estimable)"
    return (
        f"too few units for a verdict (the spread of its {units} units dominates the SE and "
        f"rests on fewer than {MIN_DF:g} degrees of freedom)"
    )


def _unless_resolvable(d) -> str:
    """What follows a pooled contrast's test (a PairedDiff) that cannot carry a verdict
    (", too few units …"); nothing for one that can."""
    return "" if d.resolvable else f", {_no_verdict(d.as_dict())}"


def _beats(t: Table, label: str) -> tuple[list, str]:
    """Does the reference row beat ``label`` on both tasks (Δ = label − reference < 0)?"""
    parts, outcomes = [], []
    for task in TASKS:
        est, sig, txt = _row_test(t, label, task)
        outcomes.append((-est, sig))
        parts.append(f"{task}: {txt}")
    return outcomes, "; ".join(parts)


def _paired(df, a, b, cache: dict, procedure: Procedure):
    """The paired test of two per-clip matrices, test sensors as clusters."""
    x, y, _, clips = common(a, b)
    sensors = clip_sensors(df, cache=cache)
    clusters = np.array([sensors[c] for c in clips]) if sensors else None
    return procedure(x, y, alpha=ALPHA, clusters=clusters)


def _cos_contrast(df: pd.DataFrame, procedure: Procedure) -> tuple[list | None, str]:
    """cos− vs cos+ (both levels averaged per clip), per task, Holm over the two tasks."""
    names = {s: [f"rec + cos{s} {lv}" for lv in ("sample", "batch")] for s in "-+"}
    if not all((df["config"] == n).any() for v in names.values() for n in v):
        return None, ""
    cache: dict = {}
    res = {}
    for task in TASKS:
        m = {
            s: sum(per_clip_matrix(df, n, task, cache=cache) for n in v) / len(v)
            for s, v in names.items()
        }
        res[task] = _paired(df, m["-"], m["+"], cache, procedure)
    p, sig = holm_verdicts([res[t] for t in TASKS], ALPHA)
    outcomes = [(res[t].estimate, bool(sig[i])) for i, t in enumerate(TASKS)]
    detail = "; ".join(
        f"{t}: Δ {res[t].estimate:+.3f} [{res[t].ci_low:+.3f}, {res[t].ci_high:+.3f}], "
        f"Holm p {p_text(p[i])} over these 2 tests" + _unless_resolvable(res[t])
        for i, t in enumerate(TASKS)
    )
    return outcomes, detail


def _mask_contrast(df: pd.DataFrame, procedure: Procedure) -> tuple[list | None, str]:
    """Masking z_p vs rec alone on DSCΔ shared (sensor into z_s), Holm over the mask ratios."""
    masks = sorted(c for c in df["config"].unique() if str(c).startswith("rec + mask"))
    if not masks or not (df["config"] == "rec").any():
        return None, ""
    cache: dict = {}

    def dsc_shared(config):
        z_s = per_clip_matrix(df, config, "sensor", feature="z_s", cache=cache)
        return z_s - per_clip_matrix(df, config, "sensor", feature="z_p", cache=cache)

    ref = dsc_shared("rec")
    res = {m: _paired(df, dsc_shared(m), ref, cache, procedure) for m in masks}
    p, sig = holm_verdicts(list(res.values()), ALPHA)
    outcomes = [(r.estimate, bool(sig[i])) for i, r in enumerate(res.values())]
    detail = "; ".join(
        f"{m.replace('rec + mask z_p ', '')}: Δ {r.estimate:+.3f} [{r.ci_low:+.3f}, "
        f"{r.ci_high:+.3f}], Holm p {p_text(p[i])}" + _unless_resolvable(r)
        for i, (m, r) in enumerate(res.items())
    )
    return outcomes, detail


def claims(df: pd.DataFrame, t1: Table, procedure: Procedure = paired_difference) -> list[Claim]:
    """The paper's main claims with their verdicts on these results (Table 1 and the grid).

    ``procedure`` is the paired test of the contrasts that pool rows (that of ``t1`` decides
    the others): see :func:`mvlib.report.comparison.compare`.
    """
    out = []
    for text, label in (
        (
            "The best multi-view model beats the single-view autoencoder on both tasks",
            "singleview AE",
        ),
        ("It beats the frontend features alone on both tasks", "frontend only"),
        ("InfoNCE on same-sensor pairs is weaker than it on both tasks", "contrastive (InfoNCE)"),
    ):
        outcomes, detail = _beats(t1, label)
        out.append(Claim(text, _decide(outcomes), detail))
    outcomes, detail = _cos_contrast(df, procedure)
    out.append(
        Claim("Separation (cos−) beats similarity (cos+) objectives", _decide(outcomes), detail)
    )
    outcomes, detail = _mask_contrast(df, procedure)
    text = (
        "Masking z_p pushes sensor information into z_s (DSCΔ shared above rec alone), "
        "at every mask ratio"
    )
    out.append(Claim(text, _decide(outcomes), detail))
    return out


def reading(df: pd.DataFrame, t1: Table, procedure: Procedure = paired_difference) -> str:
    """The chapter's "reading": each claim with its verdict, as Markdown."""
    lines = [
        (
            f"* {c.text} — **{c.verdict}**."
            if c.verdict == UNMEASURED
            else f"* {c.text} — **{c.verdict}** ({c.detail})."
        )
        for c in claims(df, t1, procedure)
    ]
    best, val = best_multiview(df)
    if best is not None:
        lines.append(
            f"* Best multi-view objective here, chosen on validation: **{best}** (mean "
            f"validation score {val.loc[best, 'val average']:.3f}); the paper's is rec + cos− "
            "sample."
        )
    lines.append("\n" + EXPLAIN)
    return "\n".join(lines)
