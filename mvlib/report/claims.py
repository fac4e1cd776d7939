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

from mvlib.evaluate.significance import holm_verdicts, paired_bootstrap
from mvlib.report.comparison import ALPHA, N_BOOT, Table, p_text
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
    return float(r["estimate"]), sig, text + ("" if sig else ", not significant")


def _beats(t: Table, label: str) -> tuple[list, str]:
    """Does the reference row beat ``label`` on both tasks (Δ = label − reference < 0)?"""
    parts, outcomes = [], []
    for task in TASKS:
        est, sig, txt = _row_test(t, label, task)
        outcomes.append((-est, sig))
        parts.append(f"{task}: {txt}")
    return outcomes, "; ".join(parts)


def _paired(df, a, b, n_boot: int, cache: dict, method: str = "cluster"):
    """The paired test of two per-clip matrices, test sensors as clusters."""
    x, y, _, clips = common(a, b)
    sensors = clip_sensors(df, cache=cache)
    clusters = np.array([sensors[c] for c in clips]) if sensors else None
    return paired_bootstrap(x, y, n_boot, clusters=clusters, method=method)


def _cos_contrast(df: pd.DataFrame, n_boot: int, method: str) -> tuple[list | None, str]:
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
        res[task] = _paired(df, m["-"], m["+"], n_boot, cache, method)
    p, sig = holm_verdicts([res[t] for t in TASKS], ALPHA)
    outcomes = [(res[t].estimate, bool(sig[i])) for i, t in enumerate(TASKS)]
    detail = "; ".join(
        f"{t}: Δ {res[t].estimate:+.3f} [{res[t].ci_low:+.3f}, {res[t].ci_high:+.3f}], "
        f"Holm p {p_text(p[i])} over these 2 tests"
        for i, t in enumerate(TASKS)
    )
    return outcomes, detail


def _mask_contrast(df: pd.DataFrame, n_boot: int, method: str) -> tuple[list | None, str]:
    """Masking z_p vs rec alone on DSCΔ shared (sensor into z_s), Holm over the mask ratios."""
    masks = sorted(c for c in df["config"].unique() if str(c).startswith("rec + mask"))
    if not masks or not (df["config"] == "rec").any():
        return None, ""
    cache: dict = {}

    def dsc_shared(config):
        z_s = per_clip_matrix(df, config, "sensor", feature="z_s", cache=cache)
        return z_s - per_clip_matrix(df, config, "sensor", feature="z_p", cache=cache)

    ref = dsc_shared("rec")
    res = {m: _paired(df, dsc_shared(m), ref, n_boot, cache, method) for m in masks}
    p, sig = holm_verdicts(list(res.values()), ALPHA)
    outcomes = [(r.estimate, bool(sig[i])) for i, r in enumerate(res.values())]
    detail = "; ".join(
        f"{m.replace('rec + mask z_p ', '')}: Δ {r.estimate:+.3f} [{r.ci_low:+.3f}, "
        f"{r.ci_high:+.3f}], Holm p {p_text(p[i])}"
        for i, (m, r) in enumerate(res.items())
    )
    return outcomes, detail


def claims(
    df: pd.DataFrame, t1: Table, n_boot: int = N_BOOT, method: str = "cluster"
) -> list[Claim]:
    """The paper's main claims with their verdicts on these results (Table 1 and the grid).

    ``method`` is the procedure of the contrasts that pool rows (that of ``t1`` decides the
    others): see :func:`mvlib.report.comparison.compare`.
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
    outcomes, detail = _cos_contrast(df, n_boot, method)
    out.append(
        Claim("Separation (cos−) beats similarity (cos+) objectives", _decide(outcomes), detail)
    )
    outcomes, detail = _mask_contrast(df, n_boot, method)
    text = (
        "Masking z_p pushes sensor information into z_s (DSCΔ shared above rec alone), "
        "at every mask ratio"
    )
    out.append(Claim(text, _decide(outcomes), detail))
    return out


def reading(df: pd.DataFrame, t1: Table, n_boot: int = N_BOOT, method: str = "cluster") -> str:
    """The chapter's "reading": each claim with its verdict, as Markdown."""
    lines = [
        (
            f"* {c.text} — **{c.verdict}**."
            if c.verdict == UNMEASURED
            else f"* {c.text} — **{c.verdict}** ({c.detail})."
        )
        for c in claims(df, t1, n_boot, method)
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
