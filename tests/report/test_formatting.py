"""Result frames formatted like the tables (mvlib.report.formatting)."""

import math

import numpy as np
import pandas as pd

from mvlib.report import formatting


def test_cells_read_like_the_tables():
    assert formatting.cell(12.0) == "12" and formatting.cell(np.int64(3)) == "3"
    assert formatting.cell(0.60134) == "0.601" and formatting.cell(12.5, 1) == "12.5"
    assert (
        formatting.cell(math.nan) == "—"
        and formatting.cell(None) == "—"
        and formatting.cell(True) == "yes"
    )
    assert formatting.with_ci(0.1, -0.02, 0.22, signed=True) == "+0.100 [-0.020, +0.220]"


def test_readable_drops_the_meaningless_index():
    df = pd.DataFrame({"data": ["synth"], "n_train": [12.0], "score": [0.5]})
    styled = formatting.readable(df)
    html = styled.to_html()
    assert ">12<" in html and "12.0" not in html and ">0.500<" in html
    assert "row0_col0" in html and "level0_row0" not in html  # no 0, 1, 2 ... index column
    keyed = formatting.readable(df, index="data")
    assert list(keyed.index) == ["synth"] and keyed.loc["synth", "n_train"] == "12"


def test_label_efficiency_frames():
    scores = pd.DataFrame(
        {
            "encoder": ["frontend only", "frontend only"],
            "task": ["sensor", "sensor"],
            "fraction": [0.05, 1.0],
            "n_train": [12.0, 288.0],
            "estimate": [0.108, 0.601],
            "ci_low": [0.09, 0.58],
            "ci_high": [0.12, 0.62],
            "units": [6, 3],
            "clips": [576, 576],
        }
    )
    out = formatting.label_efficiency_scores(scores)
    assert out.index.names == ["encoder", "task", "labels"]
    assert out.loc[("frontend only", "sensor", "5%"), "labelled clips"] == "12"
    assert out.loc[("frontend only", "sensor", "100%"), "score [95% CI]"] == "0.601 [0.580, 0.620]"
    comp = scores.assign(estimate=[-0.1, 0.02], p_holm=[0.001, 0.4], significant=[True, False])
    tests = formatting.label_efficiency_tests(comp, "multiview")
    assert list(tests["verdict"]) == ["worse", "not resolved"]
    assert list(tests["Holm p"]) == ["0.001", "0.400"]
    # as in Tables 1 and 2: the row's MDD, and no verdict where the units cannot carry one
    few = formatting.label_efficiency_tests(comp.assign(resolvable=[True, False], mdd=0.2), "m")
    assert list(few["verdict"]) == ["worse", "too few units"] and set(few["MDD"]) == {"0.200"}
