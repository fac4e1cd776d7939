"""The worlds × frontends study in the book: its table, its forest plot and its reading.

:func:`mvlib.worlds.run_study` measures, in every world and on every frontend, the best
multi-view configuration (chosen on validation) against the frontend's own features and
against rec; ``benchmarks/worlds.py`` records it with its machine in
``benchmarks/results/worlds.json``. This module states that file, never a typed figure:
:func:`load_study` reads and checks it, :func:`study_table` lays out Δ [95% CI], Holm p,
MDD and verdict per cell, :func:`plot_study` draws them as a forest (one panel per task,
one line per world × frontend × comparison), and :func:`reading` writes what the verdicts
say about the paper's central claim and what the world has to do with it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from mvlib.core.synth_config import WORLD_FIELDS
from mvlib.report.measured import RESULTS_DIR, read_results
from mvlib.report.plots import plot_forest

__all__ = [
    "load_study",
    "plot_study",
    "provenance_text",
    "reading",
    "study_file",
    "study_table",
    "summary_lines",
    "worlds_table",
]

#: comparison (Δ = best − other) -> how the book names it
OTHER_TEXT = {"frontend only": "the frontend alone", "rec": "rec"}


def study_file(profile: str = "worlds", folder: Path | None = None) -> Path:
    """``benchmarks/results/worlds.json`` (``worlds-<profile>.json`` for another profile)."""
    name = "worlds.json" if profile == "worlds" else f"worlds-{profile}.json"
    return Path(folder or RESULTS_DIR) / name


def load_study(path) -> dict | None:
    """The study's results file (None when it does not exist).

    Raises
    ------
    MvlibError
        The file exists but is not JSON, or lacks its provenance or its cells.
    """
    fix = "measure it again (python benchmarks/worlds.py)"
    return read_results(Path(path), ("profile", "wall_s", "cells"), fix)


def provenance_text(study: dict | None) -> str:
    """Where the study's figures come from (markdown), or how to measure it when absent."""
    if study is None:
        return (
            "*No measured study is at hand* (an installed mvlib has no `benchmarks/results/`): "
            "run it with `mvlib worlds --profile worlds` (one sweep per world and frontend) and "
            "give this chapter its results file (`-p results <cache>/worlds/worlds/worlds.json`)."
        )
    m = study.get("machine") or {}
    cores = f", {m['cores']} cores" if m.get("cores") else ""
    load = f", load {m['load_avg_1min']:.1f}" if m.get("load_avg_1min") is not None else ""
    resumed = " (resumed: not from an empty cache)" if study.get("resumed") else ""
    cells = len(study["cells"])
    return (
        f"Measured by `{study.get('command', 'mvlib worlds')}` at commit "
        f"`{str(study['commit'])[:12]}` on {str(study['date'])[:10]}, {m.get('cpu', '?')}"
        f"{cores}{load}: profile `{study['profile']}`, {study.get('design', '')}; "
        f"{cells} cells in {study['wall_s'] / 60:.1f} min{resumed}."
    )


def worlds_table(study: dict) -> pd.DataFrame:
    """Each world of the study: its device strengths and what it is."""
    rows = {}
    for name, w in (study.get("worlds") or {}).items():
        rows[name] = {f: float(w["strengths"].get(f, 0.0)) for f in WORLD_FIELDS}
        rows[name]["what"] = w.get("about", "")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("world")


def _rows(study: dict):
    for c in study["cells"]:
        for r in c["comparisons"]:
            yield c, r


def study_table(study: dict) -> pd.DataFrame:
    """Every comparison of the study: Δ = best multi-view − other, per world and frontend."""
    out = []
    for c, r in _rows(study):
        out.append(
            {
                "world": c["world"],
                "frontend": c["frontend"],
                "best multi-view (validation)": c["best_multiview_on_validation"],
                "compared with": r["other"],
                "task": r["task"],
                "Δ [95% CI]": f"{r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
                "Holm p": f"{r['p_holm']:.2g}",
                "MDD": f"{r['mdd']:.3f}",
                "verdict": r["verdict"],
            }
        )
    return pd.DataFrame(out).set_index(["world", "frontend", "compared with", "task"])


def summary_lines(study: dict) -> list[str]:
    """One line per comparison of the study (what ``mvlib worlds`` prints)."""
    return [
        f"{c['world']} · {c['frontend']}: {c['best_multiview_on_validation']} − {r['other']} "
        f"on {r['task']}: {r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
        f"Holm p {r['p_holm']:.2g}, MDD {r['mdd']:.3f}, {r['verdict']}"
        for c, r in _rows(study)
    ]


def plot_study(study: dict, other: str = "frontend only"):
    """Forest of Δ = best multi-view − ``other`` [95% CI] by world × frontend, per task.

    The dot's colour is the verdict (Holm over the whole study), the grey band ± the row's
    MDD (:func:`mvlib.report.plots.plot_forest`).
    """
    rows = []
    for c, r in _rows(study):
        if r["other"] == other:
            rows.append({**r, "configuration": f"{c['world']} · {c['frontend']}"})
    name = OTHER_TEXT.get(other, other)
    table = SimpleNamespace(comparisons=pd.DataFrame(rows), reference=f"{name} (Δ = best − it)")
    return plot_forest(table, title=f"Best multi-view against {name}")


def reading(study: dict) -> str:
    """What the study says, in words generated from its verdicts (markdown)."""
    lines = []
    claim = [(c, r) for c, r in _rows(study) if r["other"] == "frontend only"]
    for verdict, says in (
        ("better", "**holds**: the best multi-view model beats the frontend alone"),
        ("worse", "**is contradicted**: the frontend alone beats the best multi-view model"),
        ("not resolved", "is **not resolved** at this design"),
        ("too few units", "cannot be judged (**too few units**)"),
    ):
        rows = [(c, r) for c, r in claim if r["verdict"] == verdict]
        if rows:
            cells = _join([f"{c['world']} · {c['frontend']} on {r['task']}" for c, r in rows])
            mdds = [r["mdd"] for _c, r in rows]
            size = (
                f" (MDD {min(mdds):.3f}–{max(mdds):.3f}: differences smaller than that could "
                "not be told from none)"
                if verdict == "not resolved"
                else ""
            )
            lines.append(f"- The paper's central claim {says} in {cells}{size}.")
    lines += _world_effects(study)
    lines.append(_rec_line(study))
    return "\n".join(lines)


def _world_effects(study: dict) -> list[str]:
    """How Δ against the frontend moves from the first world to each other, per frontend."""
    worlds = list(dict.fromkeys(c["world"] for c in study["cells"]))
    if len(worlds) < 2:
        return []
    base = worlds[0]
    est = {
        (c["world"], c["frontend"], r["task"]): r
        for c, r in _rows(study)
        if r["other"] == "frontend only"
    }
    out = []
    for f in dict.fromkeys(c["frontend"] for c in study["cells"]):
        for task in ("sensor", "source"):
            b = est.get((base, f, task))
            moves = [
                f"{est[(w, f, task)]['estimate']:+.3f} ({est[(w, f, task)]['verdict']}) in the "
                f"{w} world"
                for w in worlds[1:]
                if (w, f, task) in est
            ]
            if b and moves:
                out.append(
                    f"- On {f}, {task}: Δ against the frontend is {b['estimate']:+.3f} "
                    f"({b['verdict']}) in the {base} world, and {_join(moves)}."
                )
    return out


def _rec_line(study: dict) -> str:
    rec = [(c, r) for c, r in _rows(study) if r["other"] == "rec"]
    same = [c for c, _r in rec if c["best_multiview_on_validation"] == "rec"]
    won = [
        f"{c['world']} · {c['frontend']} on {r['task']}" for c, r in rec if r["verdict"] == "better"
    ]
    lost = [
        f"{c['world']} · {c['frontend']} on {r['task']}" for c, r in rec if r["verdict"] == "worse"
    ]
    text = "- Against rec alone, the cos± objective chosen on validation is "
    text += f"better in {_join(won)}" if won else "better nowhere"
    text += f", worse in {_join(lost)}" if lost else ", worse nowhere"
    n = len({(c["world"], c["frontend"]) for c in same})
    if n:
        text += f"; in {n} cell{'s' if n > 1 else ''} validation chose rec itself (Δ 0)"
    return text + "."


def _join(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
