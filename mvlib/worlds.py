"""Where multi-view learning helps: the paper's central comparisons in worlds × frontends.

A *world* is a synthetic sensor network whose sensors differ in their own way: today's
linear colouring only, or with recording devices that compress, clip, band-limit and add
noise (the world parameters of :class:`mvlib.core.synth_config.SynthConfig`,
:mod:`mvlib.data.synth.device`). A *frontend* is what the models see: log-mel, or the
codec trained here (``mvlib-codec-22khz``). The paper's central claim is that the best
multi-view model beats the frontend's features alone; this study measures how the verdict
depends on the world and the frontend.

In every cell (world, frontend) of the study it trains the multi-view candidates
(:data:`CANDIDATES`) on the profile's seeds × split seeds, probes the frontend's own features
on the same units, chooses the best multi-view configuration on **validation**, and compares
it on test, paired, with the frontend alone and with rec, on both tasks
(:func:`mvlib.report.comparison.compare`: test sensors as clusters, Student t over units).
Holm's correction runs over all the study's comparisons at once. ::

    mvlib worlds --profile worlds                    # every world x frontend (params/worlds.yml)
    mvlib worlds --profile worlds --worlds linear,devices --frontends logmel

Each cell is an ordinary sweep of its own config (its runs are reused like any sweep's), so
an interrupted study resumes where it stopped. The results (:func:`run_study`) are a
JSON-ready dict that ``mvlib worlds`` writes to ``<cache>/worlds/<profile>/worlds.json`` and
the book's chapter *Where multi-view learning helps* reads (:mod:`mvlib.report.worlds`).
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Sequence

import pandas as pd

from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.core.synth_config import WORLD_FIELDS
from mvlib.evaluate.significance import holm, mdd
from mvlib.frontend.choice import with_frontend
from mvlib.ml.runs import git_commit
from mvlib.report.comparison import ALPHA, POWER, compare, verdict
from mvlib.report.results import METRIC, best_multiview, seed_mean
from mvlib.sweep import (
    collect,
    entries_of,
    frontend_results,
    raise_failed,
    run_plan,
    split_seeds_of,
)

__all__ = ["CANDIDATES", "FRONTENDS", "OTHERS", "WORLDS", "cell_config", "run_cell", "run_study"]

#: world -> its strengths (the world parameters not named are 0) and what it is
WORLDS: dict[str, tuple[dict[str, float], str]] = {
    "linear": ({}, "sensors differ by equalisation, room, background and hum (no device)"),
    "devices": (
        {"compression": 0.7, "clipping": 0.7, "band_limit": 0.7},
        "the linear channel, and devices that compress, clip and band-limit",
    ),
    "noisy": (
        {"self_noise": 0.7, "noise_floor": 0.7},
        "the linear channel, and microphone self-noise and a converter noise floor",
    ),
}

#: frontend -> (features.frontend, features.dac_weights)
FRONTENDS: dict[str, tuple[str, str | None]] = {
    "logmel": ("logmel", None),
    "codec": ("dac", "mvlib-codec-22khz"),
}

#: the multi-view configurations trained in every cell; the best on validation is compared
CANDIDATES = ("rec", "rec + cos+ sample", "rec + cos- sample")
#: what the best multi-view configuration is compared with (Δ = best − other)
OTHERS = ("frontend only", "rec")
_BEST = "multiview (best)"


def cell_config(cfg: Config, world: str, frontend: str) -> Config:
    """``cfg`` in one world on one frontend (the world's strengths, the others at 0)."""
    if world not in WORLDS:
        raise MvlibError(f"world {world!r}", "no such world", f"use one of {list(WORLDS)}")
    if frontend not in FRONTENDS:
        raise MvlibError(
            f"frontend {frontend!r}", "not a frontend of the study", f"use one of {list(FRONTENDS)}"
        )
    strengths = WORLDS[world][0]
    over = {f"synth.{f}": float(strengths.get(f, 0.0)) for f in WORLD_FIELDS}
    kind, weights = FRONTENDS[frontend]
    return with_frontend(cfg.replace(over), kind, weights)


def run_cell(cfg: Config, progress: bool = True) -> pd.DataFrame:
    """Train the candidates and probe the frontend in one cell's config; its results frame.

    Raises
    ------
    MvlibError
        A run failed (its folder's ``failed.json`` says why); finished runs are kept.
    """
    entries = entries_of(cfg, CANDIDATES)
    raise_failed(run_plan(cfg, entries, progress=progress), "mvlib worlds")
    frontend_results(cfg, progress=progress)
    df = collect(cfg, entries)
    return df[df["frontend"] == cfg.features.frontend]


def cell_comparisons(df: pd.DataFrame) -> tuple[str, list[dict], dict]:
    """The best multi-view configuration (validation), its comparisons, and test scores.

    Returns
    -------
    (best, rows, scores): every row one comparison ``best − other`` on one task with its
    PairedDiff fields (estimate, ci_low, ci_high, se, se_units, se_sensors, df, p,
    resolvable, n_units, n_clips); scores: {configuration: {task: mean test score}}
    """
    best, _val = best_multiview(df)
    if best is None:
        raise MvlibError("mvlib worlds", "no multi-view run finished in a cell", "rerun it")
    rows = {_BEST: (best, best), "frontend only": ("frontend only",) * 2, "rec": ("rec", "rec")}
    table = compare(df, rows, reference=_BEST)
    out = []
    for r in table.comparisons.to_dict("records"):  # row − best: flip to best − row
        out.append(
            {
                "other": r["configuration"],
                "task": r["task"],
                "estimate": -r["estimate"],
                "ci_low": -r["ci_high"],
                "ci_high": -r["ci_low"],
                **{k: _finite(r[k]) for k in ("se", "se_units", "se_sensors", "df", "p")},
                "resolvable": bool(r["resolvable"]),
                **{k: int(r[k]) for k in ("n_units", "n_clips")},
            }
        )
    scores = {}
    for label, (c, _) in rows.items():
        name = best if label == _BEST else c
        scores[label] = {t: seed_mean(df, name, col)[0] for t, col in METRIC.items()}
    return best, out, scores


def _verdicts(cells: list[dict], alpha: float = ALPHA) -> None:
    """Holm over every comparison of the study; each row's verdict (as the tables give it,
    :func:`mvlib.report.comparison.verdict`) and MDD (at α/m)."""
    rows = [r for c in cells for r in c["comparisons"]]
    # no p without variation (best is rec itself): nothing to test, p = 1
    p_holm = holm([1.0 if r["p"] is None else r["p"] for r in rows])
    for r, ph in zip(rows, p_holm, strict=True):
        r["p_holm"], r["significant"] = float(ph), bool(ph < alpha and r["resolvable"])
        r["mdd"] = mdd(r["se"], alpha / len(rows), POWER, df=r["df"]) if r["se"] else 0.0
        r["verdict"] = verdict(r)


def _finite(x) -> float | None:
    """A JSON-ready number: None for NaN (no p without variation) and infinity (df of a
    comparison whose units do not vary)."""
    x = float(x)
    return x if math.isfinite(x) else None


def run_study(
    cfg: Config,
    worlds: Sequence[str] | None = None,
    frontends: Sequence[str] | None = None,
    progress: bool = True,
) -> dict:
    """Run every cell (world × frontend) and compare; the study's results (JSON-ready).

    Parameters
    ----------
    cfg : the study's resolved profile (its design: seeds, split seeds, data, recipe)
    worlds, frontends : names in :data:`WORLDS`, :data:`FRONTENDS` (default: all)
    progress : show progress bars

    Returns
    -------
    dict
        ``what``, ``profile``, ``commit``, ``date``, ``design``, ``candidates``, ``worlds``
        (name -> strengths, description), ``cells`` (one per world × frontend: best,
        scores, comparisons with Holm p over the study, MDD and verdict, seconds, data
        set and weights), ``wall_s``.
    """
    worlds = list(worlds or WORLDS)
    frontends = list(frontends or FRONTENDS)
    for w in worlds:  # every name checked before any work
        for f in frontends:
            cell_config(cfg, w, f)
    start = time.monotonic()
    cells = []
    for w in worlds:
        for f in frontends:
            c = cell_config(cfg, w, f)
            t0 = time.monotonic()
            df = run_cell(c, progress=progress)
            best, comps, scores = cell_comparisons(df)
            cells.append(
                {
                    "world": w,
                    "frontend": f,
                    "features": c.features.frontend,
                    "weights": c.features.dac_weights,
                    "best_multiview_on_validation": best,
                    "scores": scores,
                    "comparisons": comps,
                    "seconds": round(time.monotonic() - t0, 1),
                }
            )
    _verdicts(cells)
    return {
        "what": "worlds x frontends study (mvlib worlds)",
        "profile": cfg.profile,
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "design": _design(cfg),
        "candidates": list(CANDIDATES),
        "worlds": {w: {"strengths": WORLDS[w][0], "about": WORLDS[w][1]} for w in worlds},
        "frontends": {
            f: {"frontend": FRONTENDS[f][0], "weights": FRONTENDS[f][1]} for f in frontends
        },
        "alpha": ALPHA,
        "power": POWER,
        "cells": cells,
        "wall_s": round(time.monotonic() - start, 1),
    }


def _design(cfg: Config) -> str:
    seeds, splits = list(cfg.sweep.seeds), split_seeds_of(cfg)
    units = len(seeds) * len(splits)
    trainings = units * len(CANDIDATES)
    return (
        f"{len(splits)} split seeds × {len(seeds)} seeds ({units} units) per cell, "
        f"{len(CANDIDATES)} multi-view candidates ({trainings} trainings per cell), "
        f"{cfg.synth.n_sensors} sensors × {cfg.synth.clips_per_sensor} clips of "
        f"{cfg.synth.duration_s:g} s"
    )
