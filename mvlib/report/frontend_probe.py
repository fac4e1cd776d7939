"""Chapter 2's frontend comparison: what each frontend's features carry, as a table and in words.

A cross-validated linear probe (:func:`mvlib.evaluate.probe.linear_cv.cross_validated_scores`)
of time-pooled features scores each frontend on the sensor task (balanced accuracy, chance
1/K) and the source task (macro balanced accuracy, folds grouped by sensor, chance 0.5), each
with its 95% interval (sensors resampled as clusters). Each row names the clips it was
measured on: log-mel is cheap, so it is scored on every held-out clip as well as on the few
clips that random-weight DAC could afford. The reading beside the table is generated from
the same numbers, so the prose says what this build's table shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mvlib.evaluate.probe.linear_cv import score_stores

__all__ = [
    "TASKS",
    "frontend_scores",
    "frontend_table",
    "frontend_reading",
    "plot_frontend_probe",
    "verdict",
]

#: task -> what the table calls its score
TASKS = {"sensor": "sensor balanced acc.", "source": "source balanced acc."}


def frontend_scores(rows: list[tuple[str, object, pd.DataFrame]]) -> pd.DataFrame:
    """Cross-validated probe scores of several (frontend, clips) rows.

    Parameters
    ----------
    rows : list of (label, LatentStore, clip table) — each clip must be in its store

    Returns
    -------
    DataFrame indexed by label with :func:`~mvlib.evaluate.probe.linear_cv.score_stores`'
    columns (per task: score, ``low``, ``high``, ``chance``; ``clips``, ``sensors``).
    """
    parts = [score_stores({label: store}, clips) for label, store, clips in rows]
    return pd.concat(parts)


def verdict(row: pd.Series, task: str) -> str:
    """``"above chance"`` or ``"below chance"`` (the 95% interval excludes chance), else
    ``"not distinguishable from chance"`` (on few clips, a wide interval that holds it)."""
    low, high, chance = (float(row[f"{task} {k}"]) for k in ("low", "high", "chance"))
    if low > chance:
        return "above chance"
    if high < chance:
        return "below chance"
    return "not distinguishable from chance"


def _cell(row: pd.Series, task: str) -> str:
    return f"{row[task]:.2f} [{row[f'{task} low']:.2f}, {row[f'{task} high']:.2f}]"


def frontend_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores as a reader's table: score [95% CI] and chance per task, few columns."""
    out = pd.DataFrame(index=scores.index)
    out.index.name = "features"
    out["clips (sensors)"] = [
        f"{int(r.clips)} ({int(r.sensors)})" for r in scores.itertuples(index=False)
    ]
    for task, name in TASKS.items():
        out[name] = [_cell(r, task) for _, r in scores.iterrows()]
        out[f"{task} chance"] = [f"{c:.2f}" for c in scores[f"{task} chance"]]
    return out


def frontend_reading(scores: pd.DataFrame) -> str:
    """The table in words (markdown): each row's verdict per task, from its interval."""
    lines = []
    for label, row in scores.iterrows():
        parts = [
            f"{task} {_cell(row, task)} is **{verdict(row, task)}** "
            f"({float(row[f'{task} chance']):.2f})"
            for task in TASKS
        ]
        lines.append(
            f"- **{label}** ({int(row['clips'])} clips of {int(row['sensors'])} sensors): "
            + "; ".join(parts)
            + "."
        )
    if any(verdict(row, t) == "below chance" for _, row in scores.iterrows() for t in TASKS):
        lines.append(
            "\nBelow chance is not information in the other direction: with a few clips per "
            "class, a cross-validated probe of features that carry nothing it can use often "
            "scores below chance, and the interval (which resamples the clips, not the probe's "
            "fits) does not cover that instability."
        )
    return "\n".join(lines)


def plot_frontend_probe(scores: pd.DataFrame) -> Figure:
    """One panel per task: each row's score with its 95% interval, and the row's chance."""
    fig = Figure(figsize=(9, 0.55 * len(scores) + 1.3), layout="constrained")
    axes = fig.subplots(1, len(TASKS), sharey=True, squeeze=False)[0]
    ypos = np.arange(len(scores))[::-1]  # first row on top
    for ax, (task, name) in zip(axes, TASKS.items(), strict=True):
        score = scores[task].to_numpy(float)
        err = np.stack(
            [
                score - scores[f"{task} low"].to_numpy(float),
                scores[f"{task} high"].to_numpy(float) - score,
            ]
        )  # (2, rows)
        ax.errorbar(score, ypos, xerr=err, fmt="o", color="tab:green", capsize=3)
        chance = scores[f"{task} chance"].to_numpy(float)
        ax.scatter(chance, ypos, marker="|", s=200, color="red", label="chance", zorder=3)
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ypos, scores.index.astype(str), fontsize=8)
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("cross-validated linear probe of pooled features (95% CI)", fontsize=10)
    return fig
