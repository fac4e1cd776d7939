"""Figure 2's numbers (paper 4.2): overall score and disentanglement (DSCΔ) per objective.

Both come with 95% CIs over seeds and test clips (each clip its own cluster) from
:mod:`mvlib.evaluate.significance`: the overall score is the joint latent's per-clip
score (:func:`~mvlib.evaluate.significance.mean_interval`); DSCΔ (eqs. 6, 7) is the paired per-clip difference between the probe of the
subspace that should hold a task and the other subspace's probe on the same clips
(:func:`~mvlib.evaluate.significance.paired_difference`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mvlib.evaluate.significance import mean_interval, paired_difference
from mvlib.report.reference import PAPER_TABLE2
from mvlib.report.results import TASKS, aligned, per_clip_matrix

__all__ = ["DSC", "figure2_data"]

#: task -> (subspace that SHOULD hold it, the other one), as in eqs. 6 and 7
DSC = {"source": ("z_p", "z_s"), "sensor": ("z_s", "z_p")}


def figure2_data(df: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's numbers: per multi-view configuration and task, the overall score and DSCΔ.

    Source DSCΔ is z_p − z_s, sensor DSCΔ z_s − z_p. The frontend-only baseline comes as
    config "frontend only" (no DSCΔ); ``paper`` is the paper's overall score where Table 2
    gives one.

    Returns
    -------
    DataFrame with columns config, group, task, overall, overall_low, overall_high, dsc,
    dsc_low, dsc_high, paper, seeds
    """
    cache: dict = {}
    rows = []
    mv = df[df["method"] == "multiview"]
    order = {"rec": 0, "cos": 1, "mask": 2}  # the paper's strategy order
    rank = mv["group"].map(order).fillna(len(order)) if "group" in mv else 0
    configs = list(
        dict.fromkeys(mv.assign(_rank=rank).sort_values("_rank", kind="mergesort")["config"])
    )
    for config in configs + ["frontend only"]:
        if not (df["config"] == config).any():
            continue
        group = df.loc[df["config"] == config, "group"].iloc[0] if "group" in df else ""
        for i, task in enumerate(TASKS):
            m = per_clip_matrix(df, config, task, cache=cache).to_numpy(np.float64)
            est = mean_interval(m)
            row = {
                "config": config,
                "group": group,
                "task": task,
                "overall": est.estimate,
                "overall_low": max(0.0, est.ci_low),  # scores live in [0, 1]
                "overall_high": min(1.0, est.ci_high),
                "dsc": math.nan,
                "dsc_low": math.nan,
                "dsc_high": math.nan,
                "paper": PAPER_TABLE2.get(config, (math.nan, math.nan))[i],
                "seeds": m.shape[0],
            }
            if config != "frontend only":
                want, other = DSC[task]
                a, b, _ = aligned(
                    per_clip_matrix(df, config, task, feature=want, cache=cache),
                    per_clip_matrix(df, config, task, feature=other, cache=cache),
                )
                d = paired_difference(a, b)
                row.update(dsc=d.estimate, dsc_low=d.ci_low, dsc_high=d.ci_high)
            rows.append(row)
    return pd.DataFrame(rows)
