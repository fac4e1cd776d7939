"""The worlds x frontends study in the book (mvlib.report.worlds): table, forest, reading."""

import json

import matplotlib
import pytest

from mvlib.core.errors import MvlibError
from mvlib.report import worlds

matplotlib.use("Agg")


def _row(other, task, est, verdict, half=0.02):
    return {
        "other": other,
        "task": task,
        "estimate": est,
        "ci_low": est - half,
        "ci_high": est + half,
        "se": half / 2,
        "p": 0.01,
        "p_holm": 0.04,
        "mdd": 0.03,
        "df": 10.0,
        "resolvable": verdict != "too few units",
        "verdict": verdict,
    }


def _study():
    cells = []
    for world, sensor, sv in (("linear", -0.03, "worse"), ("devices", 0.05, "better")):
        cells.append(
            {
                "world": world,
                "frontend": "logmel",
                "best_multiview_on_validation": "rec + cos+ sample",
                "comparisons": [
                    _row("frontend only", "source", 0.004, "not resolved"),
                    _row("frontend only", "sensor", sensor, sv),
                    _row("rec", "source", 0.0, "not resolved"),
                    _row("rec", "sensor", 0.02, "better"),
                ],
            }
        )
    return {
        "what": "worlds x frontends study",
        "commit": "abc",
        "date": "2026-12-07",
        "machine": {"cpu": "x", "cores": 2},
        "profile": "worlds",
        "wall_s": 10.0,
        "cells": cells,
    }


def test_the_table_has_one_row_per_comparison_with_its_verdict():
    t = worlds.study_table(_study())
    assert len(t) == 8
    row = t.loc[("devices", "logmel", "frontend only", "sensor")]
    assert row["Δ [95% CI]"] == "+0.050 [+0.030, +0.070]" and row["verdict"] == "better"


def test_the_reading_says_where_the_claim_holds_and_where_it_is_contradicted():
    text = worlds.reading(_study())
    assert (
        "**holds**: the best multi-view model beats the frontend alone in devices · logmel on sensor"
        in text
    )
    assert "**is contradicted**" in text and "linear · logmel on sensor" in text
    assert (
        "not resolved** at this design in linear · logmel on source and devices · logmel on source"
        in text
    )
    assert "in the linear world, and +0.050 (better) in the devices world." in text
    assert "better in linear · logmel on sensor and devices · logmel on sensor" in text


def test_the_forest_has_a_panel_per_task_and_a_line_per_cell():
    fig = worlds.plot_study(_study())
    axes = [a for a in fig.axes if a.get_title()]
    assert [a.get_title().split(":")[0] for a in axes] == ["source", "sensor"]
    ticks = {t.get_text(): t.get_position()[1] for t in axes[0].get_yticklabels()}
    assert ticks == {"linear · logmel": 1, "devices · logmel": 0}  # the study's order, top down


def test_a_results_file_without_provenance_is_refused(tmp_path):
    assert worlds.load_study(tmp_path / "none.json") is None
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"cells": []}))
    with pytest.raises(MvlibError, match="lacks what, commit, date, machine"):
        worlds.load_study(bad)
    good = tmp_path / "g.json"
    good.write_text(json.dumps(_study()))
    assert worlds.load_study(good)["profile"] == "worlds"


def test_the_provenance_names_commit_machine_and_time_or_says_how_to_measure():
    text = worlds.provenance_text({**_study(), "design": "2 split seeds", "resumed": True})
    assert "commit `abc` on 2026-12-07, x, 2 cores" in text and "2 cells in 0.2 min" in text
    assert "resumed" in text
    assert "mvlib worlds --profile worlds" in worlds.provenance_text(None)


def test_the_worlds_table_lists_every_strength():
    study = {**_study(), "worlds": {"noisy": {"strengths": {"noise_floor": 0.7}, "about": "n"}}}
    t = worlds.worlds_table(study)
    assert t.loc["noisy", "noise_floor"] == 0.7 and t.loc["noisy", "clipping"] == 0.0
