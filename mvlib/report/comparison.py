"""Paired comparison tables: configurations against a reference row, with power.

Every comparison a table makes is the paired difference ``row - reference`` on the same
test clips and seeds, with its interval, p-value and standard error from
:func:`mvlib.evaluate.significance.paired_difference`, p-values corrected by Holm over the
whole table (both tasks), and, per row, the minimum detectable difference (MDD) at 80%
power and Holm's strictest level. A row gets a verdict ("better", "worse") only where the
corrected test says so.

A :class:`Table` comes in three shapes, for three readers:

- ``display``, the main table, one row per (configuration, task) and only what a verdict
  needs: score with CI, Δ with CI, Holm p, the row's MDD, the verdict. Seven columns with
  the two index levels, so it fits the book's ~700-pixel text column without sideways
  scrolling (the CI goes on a second line in HTML);
- ``secondary``: the other metrics (source Jaccard with empty clips scored 0, the DCASE
  AUPRCs) and the paper's cells, one row per configuration;
- ``data``: every number unrounded with provenance, what the CSV holds
  (:func:`mvlib.report.export.write_csv`).

Metric conventions: source is the sample Jaccard index with the book's convention for a
clip without any true or predicted source (it scores 1,
:data:`mvlib.evaluate.metrics.EMPTY_CLIP_JACCARD`; sklearn's default 0 is in the secondary
table), sensor is accuracy. The AUPRCs are means over seeds (not sums over clips).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mvlib.evaluate.probe.results import provenance_cells
from mvlib.evaluate.significance import (
    MIN_DF,
    PairedDiff,
    holm_verdicts,
    mdd_summary,
    paired_difference,
)
from mvlib.report.results import TASKS, clip_sensors, common, per_clip_matrix, seed_mean

__all__ = [
    "DASH",
    "ALPHA",
    "POWER",
    "Procedure",
    "MAIN_COLUMNS",
    "Table",
    "compare",
    "p_text",
    "fmt",
    "verdict",
    "dominated",
    "html_table",
]

DASH = "—"  #: what a cell without a value shows (never NaN)
ALPHA = 0.05  #: family-wise error rate of each table (Holm)
POWER = 0.8  #: power at which the minimum detectable difference is stated
#: a paired test ``(a, b, *, alpha, clusters) -> PairedDiff`` of per-clip score matrices
#: ndarray[S x N] (:func:`mvlib.evaluate.significance.paired_difference`, the book's)
Procedure = Callable[..., PairedDiff]
#: the main table's columns (index: configuration, task)
MAIN_COLUMNS = ["score [95% CI]", "Δ [95% CI]", "Holm p", "MDD", "verdict"]
SECONDARY = {
    "source Jaccard (empty=0)": "source_jaccard_empty0",
    "source micro AUPRC": "source_micro_auprc",
    "source macro AUPRC": "source_macro_auprc",
}


@dataclass
class Table:
    """A table of configurations with paired comparisons against a reference row.

    ``display`` (main) and ``secondary`` are for reading (strings, "—" where there is no
    value), ``data`` the same numbers unrounded with provenance (what the CSV holds),
    ``comparisons`` one row per (row, task) test with its own ``mdd``, ``mdd`` per task the
    median, lowest and highest per-row MDD, ``notes`` the Markdown lines under the table.
    """

    name: str
    display: pd.DataFrame
    data: pd.DataFrame
    comparisons: pd.DataFrame
    mdd: dict = field(default_factory=dict)  #: task -> {"median", "min", "max"}
    notes: str = ""
    secondary: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: str = ""

    def _repr_html_(self) -> str:  # how Jupyter (and the book) shows a Table: the main one
        return html_table(self.display)

    def __repr__(self) -> str:  # text front ends (print, a terminal): the main table
        return f"{self.name}\n{self.display.to_string()}"


def html_table(frame: pd.DataFrame) -> str:
    """A display frame as HTML, each CI on its own line under its estimate (narrow columns)."""
    out = frame.map(lambda v: html.escape(str(v)).replace(" [", "<br>["))
    out.index = out.index.map(
        lambda i: tuple(html.escape(str(x)) for x in i) if isinstance(i, tuple) else html.escape(i)
    )
    return out.to_html(escape=False, classes="mvlib-table")


def fmt(x, spec: str = ".3f") -> str:
    """A number for a table cell ("—" for none)."""
    return DASH if x is None or not np.isfinite(x) else format(x, spec)


def p_text(p: float) -> str:
    """A p-value for a table cell or a sentence."""
    if not np.isfinite(p):
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def compare(
    df: pd.DataFrame,
    rows: dict[str, tuple[str, str]],
    reference: str,
    paper: dict | None = None,
    name: str = "table",
    alpha: float = ALPHA,
    procedure: Procedure = paired_difference,
) -> Table:
    """A table of configurations, each compared with ``reference`` on the same clips/seeds.

    Parameters
    ----------
    df : results from :func:`mvlib.report.results.collect_runs` (one frontend only)
    rows : label -> (configuration scored on source, configuration scored on sensor)
    reference : the label every other row is compared with (``row - reference``)
    paper : label -> (source, sensor) numbers of the paper, shown beside ours
    alpha : family-wise error rate over the table's comparisons (Holm)
    procedure : the paired test of every comparison, and of every score's interval
        (``row - 0``); default :func:`mvlib.evaluate.significance.paired_difference`
        (test sensors as clusters, Student t over units: the book's)
    """
    frontends = df["frontend"].unique() if len(df) else []
    assert len(frontends) <= 1, f"results mix frontends {list(frontends)}: filter by frontend first"
    if reference not in rows:
        raise ValueError(f"compare: reference {reference!r} is not one of the rows {list(rows)}")
    paper = paper or {}
    cache: dict = {}
    present = {label: cfgs for label, cfgs in rows.items() if df["config"].isin(list(cfgs)).any()}
    mats = {
        (label, task): per_clip_matrix(df, cfgs[i], task, cache=cache)
        for label, cfgs in present.items()
        for i, task in enumerate(TASKS)
        if (df["config"] == cfgs[i]).any()
    }
    sensors = clip_sensors(
        df[df["config"].isin({c for v in present.values() for c in v})], cache=cache
    )
    data, tests, diffs = [], [], []
    for label, cfgs in present.items():
        row: dict = {"configuration": label, "source config": cfgs[0], "sensor config": cfgs[1]}
        for task, metric in TASKS.items():
            m = mats.get((label, task))
            row.update(_score_cells(m, task, metric, procedure, alpha, sensors))
            if m is None:
                continue
            if label != reference and (reference, task) in mats:
                ref = mats[(reference, task)]
                done = _reference_test(label, task, m, ref, procedure, alpha, sensors)
                if done is not None:
                    tests.append(done[1])
                    diffs.append(done[0])
        for col, key in SECONDARY.items():
            row[col] = seed_mean(df, cfgs[0], key)[0]
        row["paper source"], row["paper sensor"] = paper.get(label, (math.nan, math.nan))
        row.update(provenance_cells(df, list(cfgs)))
        data.append(row)
    comp = _corrected(pd.DataFrame(tests), diffs, reference, alpha)
    data = _with_comparisons(pd.DataFrame(data), comp)
    table = Table(
        name=name,
        display=_main(data, comp, reference),
        data=data,
        comparisons=comp,
        mdd=_mdd_summary(comp),
        notes=_notes(comp, reference, alpha),
        secondary=_secondary(data),
        reference=reference,
    )
    return table


def _clusters(sensors: dict, clips) -> np.ndarray | None:
    """The sensor of every clip: the clusters (None when no sensor is known)."""
    return np.array([sensors[c] for c in clips]) if sensors else None


def _score_cells(
    m: pd.DataFrame | None, task: str, metric: str, procedure: Procedure, alpha: float, sensors
) -> dict:
    """A row's score cells for one task: estimate, CI (``row - 0``), test clips; NaN if none."""
    if m is None:
        return {
            metric: math.nan,
            f"{metric} ci low": math.nan,
            f"{metric} ci high": math.nan,
            f"{task} test clips": 0,
        }
    mat = m.to_numpy(np.float64)
    zero = np.where(np.isnan(mat), np.nan, 0.0)
    est = procedure(mat, zero, alpha=alpha, clusters=_clusters(sensors, m.columns))
    return {
        metric: est.estimate,
        f"{metric} ci low": max(0.0, est.ci_low),  # scores live in [0, 1]
        f"{metric} ci high": min(1.0, est.ci_high),
        f"{task} test clips": est.n_clips,
    }


def _reference_test(
    label: str,
    task: str,
    m: pd.DataFrame,
    ref: pd.DataFrame,
    procedure: Procedure,
    alpha: float,
    sensors,
):
    """``(result, test row)`` of ``row - reference`` on shared seeds and clips, or None."""
    a, b, seeds, clips = common(m, ref)
    if not len(seeds):
        return None
    res = procedure(a, b, alpha=alpha, clusters=_clusters(sensors, clips))
    unit = seeds[res.dominant_unit] if res.dominant_unit >= 0 else None
    row_test = {"configuration": label, "task": task, **res.as_dict()}
    return res, {**row_test, "dominating_seed": unit}


def _corrected(comp: pd.DataFrame, diffs: list, reference: str, alpha: float) -> pd.DataFrame:
    """Holm over the table, verdicts, and each row's MDD at Holm's strictest level."""
    if comp.empty:
        return comp
    comp["p_holm"], comp["significant"] = holm_verdicts(diffs, alpha)
    comp["winner"] = [
        (label if est > 0 else reference) if sig else ""
        for label, est, sig in zip(
            comp["configuration"], comp["estimate"], comp["significant"], strict=True
        )
    ]
    summary = mdd_summary(diffs, alpha=alpha, power=POWER)
    comp["mdd_alpha"] = summary["alpha_strict"]
    comp["mdd"] = [summary["mdd"][str(i)] for i in range(len(comp))]
    comp["verdict"] = [verdict(r) for r in comp.to_dict("records")]
    return comp


def verdict(r) -> str:
    """The main table's verdict of one comparison row (a dict or a namedtuple)."""
    get = r.get if isinstance(r, dict) else lambda k, d=None: getattr(r, k, d)
    if get("resolvable", True) is False:  # the design cannot support a verdict here
        return "too few units"
    if not get("significant"):
        return "not resolved"
    return "better" if get("estimate") > 0 else "worse"


def _with_comparisons(data: pd.DataFrame, comp: pd.DataFrame) -> pd.DataFrame:
    cols = ("estimate", "ci_low", "ci_high", "se", "df", "p", "p_holm", "mdd", "resolvable")
    cols += ("dominating_seed", "winner")
    for task in TASKS:
        for col in cols:
            numeric = col not in ("resolvable", "dominating_seed", "winner")
            data[f"Δ {task} {col}"] = math.nan if numeric else None
            data[f"Δ {task} {col}"] = data[f"Δ {task} {col}"].astype(float if numeric else object)
        for r in comp[comp["task"] == task].itertuples() if len(comp) else ():
            i = data.index[data["configuration"] == r.configuration][0]
            for col in cols:
                data.loc[i, f"Δ {task} {col}"] = getattr(r, col)
    return data


def _main(data: pd.DataFrame, comp: pd.DataFrame, reference: str) -> pd.DataFrame:
    out, index = [], []
    for r in data.to_dict("records"):
        for task, label in TASKS.items():
            m, lo, hi = r[label], r[f"{label} ci low"], r[f"{label} ci high"]
            score = DASH if not np.isfinite(m) else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
            index.append((r["configuration"], task))
            if r["configuration"] == reference:
                out.append([score, "reference", DASH, DASH, "reference"])
                continue
            c = comp[(comp["configuration"] == r["configuration"]) & (comp["task"] == task)]
            if c.empty:
                out.append([score, DASH, DASH, DASH, "not measured"])
                continue
            c = c.iloc[0]
            delta = f"{c['estimate']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
            out.append([score, delta, p_text(c["p_holm"]), fmt(c["mdd"]), c["verdict"]])
    idx = pd.MultiIndex.from_tuples(index, names=["configuration", "task"])
    return pd.DataFrame(out, index=idx, columns=MAIN_COLUMNS)


def _secondary(data: pd.DataFrame) -> pd.DataFrame:
    out = []
    for r in data.to_dict("records"):
        row = {"configuration": r["configuration"], "seeds": len(r["seeds"].split())}
        for col in [*SECONDARY, "paper source", "paper sensor"]:
            row[col] = fmt(r[col])
        out.append(row)
    return pd.DataFrame(out).set_index("configuration") if out else pd.DataFrame()


def _mdd_summary(comp: pd.DataFrame) -> dict:
    out = {}
    for task in TASKS:
        v = comp.loc[comp["task"] == task, "mdd"].dropna() if len(comp) else pd.Series([])
        if len(v):
            out[task] = {"median": float(v.median()), "min": float(v.min()), "max": float(v.max())}
    return out


def dominated(comp: pd.DataFrame) -> pd.DataFrame:
    """Comparisons whose SE one unit dominates (leaving it out cuts the variance to a
    quarter, :mod:`mvlib.evaluate.significance`), e.g. a run that stopped early."""
    if comp.empty or "dominating_seed" not in comp:
        return comp.iloc[0:0]
    return comp[comp["dominating_seed"].notna()]


def _notes(comp: pd.DataFrame, reference: str, alpha: float) -> str:
    if comp.empty:
        return ""
    s, n = int(comp["n_units"].max()), int(comp["n_clips"].max())
    k = int(comp["n_clusters"].max()) if "n_clusters" in comp else 0
    m = int(comp["p"].notna().sum())
    sensors = f" from {k} test sensors" if k else ""
    names = comp["procedure"].unique() if "procedure" in comp else ["cluster"]
    procedure = (
        "Student's t over seeds and test sensors as clusters (mvlib.evaluate.significance)"
        if list(names) == ["cluster"]
        else " and ".join(f"the {name}" for name in names)
    )
    lines = [
        f"Δ = row − {reference} on the same test clips and units ({s} units × {n} test "
        f"clips{sensors}); 95% CI and p from {procedure}; p-values Holm-corrected over the table's "
        f"{m} comparisons. Verdict: *better* or *worse* than {reference} where the "
        f"corrected p < {alpha:g}, *not resolved* otherwise, *too few units* where the "
        f"seeds cannot carry a verdict. MDD: the true difference the row's design detects "
        f"with {POWER:.0%} power at Holm's strictest level α/{max(m, 1)} = "
        f"{alpha / max(m, 1):.4f}"
        + ("" if m else " (no comparison has a defined p: every Δ has zero spread)")
        + "."
    ]
    for task, label in TASKS.items():
        c = comp[comp["task"] == task]
        if c.empty:
            continue
        worst = c.loc[c["mdd"].idxmax()]
        lines.append(
            f"- {label}: per-row MDD median {c['mdd'].median():.3f}, range "
            f"{c['mdd'].min():.3f}–{c['mdd'].max():.3f} (largest: {worst['configuration']}, "
            f"SE {worst['se']:.4f}, of which units {worst['se_units']:.4f} and test set "
            f"{worst['se_sensors']:.4f})."
        )
    dom = dominated(comp)
    if len(dom):
        named = "; ".join(
            f"{r['configuration']} ({r['task']}): seed {int(r['dominating_seed'])}"
            for r in dom.to_dict("records")
        )
        lines.append(f"- SE dominated by one unit (an unstable run?): {named}.")
    else:
        lines.append("- No comparison's SE is dominated by one unit.")
    few = comp[~comp["resolvable"].astype(bool)] if "resolvable" in comp else comp.iloc[0:0]
    if len(few):
        lines.append(
            f"- {len(few)} of {m} comparisons have too few units for a verdict "
            f"(t degrees of freedom below {MIN_DF:g})."
        )
    return "\n".join(lines)
