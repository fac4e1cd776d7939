"""Chapter 4 beside other profiles: their measured tables and the paper's claims on each.

A profile built on another day (``params/codec.yml``: the same design on the trained codec's
latents) is stated from its results file (:mod:`mvlib.report.measured`), never typed:
:func:`measured_comparisons` gives its Table 1 or 2 as Δ [95% CI], Holm p, MDD and verdict,
and :func:`claims_side_by_side` puts the paper's claims as this build reads them next to the
verdicts each measured profile recorded.
"""

from __future__ import annotations

import pandas as pd

from mvlib.report.claims import Claim
from mvlib.report.measured import BuildResult

__all__ = ["claims_side_by_side", "measured_comparisons"]


def measured_comparisons(build: BuildResult, table: str) -> pd.DataFrame:
    """A measured build's Table 1 or 2 (``"table1"``/``"table2"``) as a reader's table.

    Raises
    ------
    KeyError
        The results file records no comparisons for ``table``.
    """
    rows = build.comparisons(table)
    if not rows:
        raise KeyError(f"{build.path.name}: no comparisons recorded for {table}")
    out = pd.DataFrame(
        {
            "comparison": [r["configuration"] for r in rows],
            "task": [r["task"] for r in rows],
            "Δ [95% CI]": [
                f"{r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" for r in rows
            ],
            "Holm p": [f"{r['p_holm']:.2g}" for r in rows],
            "MDD": [f"{r['mdd']:.3f}" for r in rows],
            "verdict": [r["verdict"] for r in rows],
        }
    )
    return out.set_index(["comparison", "task"])


def claims_side_by_side(here: list[Claim], here_name: str, builds: dict[str, BuildResult]):
    """The paper's claims: this build's verdicts, then each measured build's.

    Parameters
    ----------
    here : list of Claim
        This build's reading (:func:`mvlib.report.claims.claims`).
    here_name : str
        Its column's name (profile and frontend).
    builds : dict column name -> BuildResult (None: not measured)
    """
    table = pd.DataFrame({here_name: {c.text: c.verdict for c in here}})
    for name, build in builds.items():
        recorded = {c["claim"]: c["verdict"] for c in (build.claims if build else [])}
        table[name] = [recorded.get(text, "not measured") for text in table.index]
    table.index.name = "the paper's claim"
    return table
