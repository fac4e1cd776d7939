"""Formatting result frames for reading: the number formats of the book's tables, a meaningful index.

A raw frame shown in a chapter (``display(df)``) prints pandas' 0, 1, 2 … index column and
floats as they are stored (``n_train 12.0``, ``0.60134``). These helpers turn a frame into
what the tables show: counts as integers, scores with three decimals, an estimate and
its CI in one cell, fractions as percentages, "—" for no value, and the key columns as
the index (or no index at all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mvlib.report.comparison import DASH, p_text, verdict

__all__ = ["cell", "readable", "with_ci", "label_efficiency_scores", "label_efficiency_tests"]


def cell(x, digits: int = 3) -> str:
    """One value as a table shows it: integers without decimals, floats rounded, "—"."""
    if x is None or isinstance(x, bool | np.bool_):
        return DASH if x is None else ("yes" if x else "no")
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if not np.isfinite(x):
            return DASH
        if float(x).is_integer() and abs(x) >= 1:
            return str(int(x))
        return f"{x:.{digits}f}"
    return str(x) if str(x) not in ("", "nan", "None") else DASH


def with_ci(est, low, high, digits: int = 3, signed: bool = False) -> str:
    """``0.605 [0.590, 0.620]`` (``+`` signs for differences)."""
    if est is None or not np.isfinite(est):
        return DASH
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{f.format(est)} [{f.format(low)}, {f.format(high)}]"


def readable(df: pd.DataFrame, index=None, digits: int = 3):
    """A frame with every cell formatted like the tables (strings).

    Parameters
    ----------
    index : column name or list of names to make the index; None: keep the frame's own
        index when it means something (not a plain 0..n-1 range), else show no index
    """
    out = df.copy()
    if index is not None:
        out = out.set_index(index)
    out = out.map(lambda v: cell(v, digits))
    if index is None and isinstance(df.index, pd.RangeIndex):
        return out.style.hide(axis="index")
    return out


def _fraction(f) -> str:
    return f"{f:.0%}" if f >= 0.01 else f"{f:.1%}"


def label_efficiency_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Chapter 6's scores: encoder × task × fraction, labelled clips, score with CI, units."""
    rows = []
    for r in scores.to_dict("records"):
        rows.append(
            {
                "encoder": r["encoder"],
                "task": r["task"],
                "labels": _fraction(r["fraction"]),
                "labelled clips": cell(r["n_train"], 1),
                "score [95% CI]": with_ci(r["estimate"], r["ci_low"], r["ci_high"]),
                "units": cell(r.get("units")),
                "test clips": cell(r.get("clips")),
            }
        )
    return pd.DataFrame(rows).set_index(["encoder", "task", "labels"])


def label_efficiency_tests(comparisons: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Chapter 6's paired differences: Δ with CI, Holm p, MDD, verdict against ``reference``
    (as Tables 1 and 2 give it: "too few units" where the units cannot carry a verdict)."""
    rows = []
    for r in comparisons.to_dict("records"):
        rows.append(
            {
                "encoder": r["encoder"],
                "task": r["task"],
                "labels": _fraction(r["fraction"]),
                f"Δ vs {reference} [95% CI]": with_ci(
                    r["estimate"], r["ci_low"], r["ci_high"], signed=True
                ),
                "Holm p": p_text(r["p_holm"]),
                "MDD": cell(r.get("mdd")),
                "verdict": verdict(
                    {
                        **r,
                        "significant": bool(r.get("significant")),
                        "resolvable": bool(r.get("resolvable", True)),
                    }
                ),
            }
        )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index(["encoder", "task", "labels"])
