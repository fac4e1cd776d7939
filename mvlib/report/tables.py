"""Tables 1 and 2 of the paper (section 4): which rows, against which reference.

Table 1 compares the best multi-view configuration (chosen on VALIDATION, never on test)
with the four baselines; Table 2 compares the objectives on the multi-view backbone with
reconstruction alone. Both are paired comparison tables
(:func:`mvlib.report.comparison.compare`) with the paper's own numbers
(:mod:`mvlib.report.reference`) beside them.
"""

from __future__ import annotations

import pandas as pd

from mvlib.report.comparison import Table, compare
from mvlib.report.reference import PAPER_TABLE1, PAPER_TABLE2
from mvlib.report.results import best_multiview, empty_source_share

__all__ = [
    "TABLE1_REFERENCE",
    "TABLE2_REFERENCE",
    "table1",
    "table2",
    "table1_rows",
    "table2_rows",
]

TABLE1_REFERENCE = "multiview (best)"
TABLE2_REFERENCE = "rec"
FALLBACK_BEST = "rec + cos- sample"  #: Table 1's first row when no multi-view run is there


def table1_rows(best: str) -> dict[str, tuple[str, str]]:
    """Table 1's rows: label -> (configuration scored on source, on sensor)."""
    return {
        TABLE1_REFERENCE: (best, best),
        "singleview AE": ("singleview AE", "singleview AE"),
        "contrastive (InfoNCE)": ("contrastive (InfoNCE)", "contrastive (InfoNCE)"),
        "frontend only": ("frontend only", "frontend only"),
        "supervised": ("supervised source", "supervised sensor"),
    }


def table2_rows(mask_ratios=(0.2, 0.4, 0.6, 0.8)) -> dict[str, tuple[str, str]]:
    """Table 2's rows: rec, the four cos± objectives and masking z_p at each ratio."""
    names = [TABLE2_REFERENCE]
    names += [f"rec + cos{s} {lv}" for s in "-+" for lv in ("sample", "batch")]
    names += [f"rec + mask z_p r={r:g}" for r in mask_ratios]
    return {n: (n, n) for n in names}


def table1(df: pd.DataFrame, best: str | None = None, **kw) -> Table:
    """Table 1: the best multi-view configuration (chosen on validation) against the baselines.

    Parameters
    ----------
    df : the results frame (:func:`mvlib.report.results.collect_runs`), one frontend
    best : the multi-view configuration of the first row (default: :func:`best_multiview`)
    **kw : passed to :func:`mvlib.report.comparison.compare` (alpha, procedure)
    """
    best = best or best_multiview(df)[0] or FALLBACK_BEST
    t = compare(df, table1_rows(best), TABLE1_REFERENCE, PAPER_TABLE1, name="table1", **kw)
    share, n = empty_source_share(df[df["config"] == best])
    empty = f" {share:.0%} of its {n} test clips have no source at all." if n else ""
    t.notes = (
        f"The multiview (best) row is **{best}**, the multi-view configuration with the best "
        f"mean validation score (never chosen on test).{empty}\n" + t.notes
    )
    return t


def table2(df: pd.DataFrame, mask_ratios=(0.2, 0.4, 0.6, 0.8), **kw) -> Table:
    """Table 2: objectives on the multi-view backbone, each compared with rec alone."""
    return compare(
        df, table2_rows(mask_ratios), TABLE2_REFERENCE, PAPER_TABLE2, name="table2", **kw
    )
