"""The chapters' generated sentences carry the numbers of the results they describe."""

import json
import re

import pandas as pd
import pytest
from fake_results import make_results

from mvlib.report import measured, prose, tables
from mvlib.report.reference import PAPER_TABLE1
from mvlib.report.results import TASKS


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    df = make_results(tmp_path_factory.mktemp("runs"))
    return tables.table1(df), tables.table2(df, (0.4,))


def test_power_paragraph_states_this_builds_per_row_mdds(both):
    t1, t2 = both
    text = prose.power_of_design(t1, t2, "ci")
    for t in (t1, t2):
        for task in ("source", "sensor"):
            v = t.mdd[task]
            assert f"median {v['median']:.3f} (range {v['min']:.3f}–{v['max']:.3f})" in text
    assert "profile `ci`: 3 units × 240 test clips" in text
    gaps = prose.paper_gaps()
    best = PAPER_TABLE1["multiview (best)"]
    assert max(gaps) == pytest.approx(best[0] - PAPER_TABLE1["singleview AE"][0])
    assert f"are {min(gaps):.3f}–{max(gaps):.3f}" in text
    n = len(t1.comparisons) + len(t2.comparisons)
    units = int(
        (
            pd.concat([t1.comparisons, t2.comparisons]).pipe(lambda c: c.se_units > c.se_sensors)
        ).sum()
    )
    assert f"In {units} of the {n} comparisons" in text


#: a results file of the full build as the former procedure measured it (one MDD per table)
_OLD_FULL = {
    "what": "book build from an empty cache (benchmarks/book.py)",
    "profile": "full",
    "commit": "72f9f7a",
    "date": "2026-12-01",
    "machine": {"cpu": "AMD EPYC (Zen 3, AVX2 only)", "cores": 2, "gpu": None},
    "wall_s": 4597.2,
    "design": "4 split seeds × 3 seeds (12 units), 2160 test clips per split",
    "procedure": "paired bootstrap seeds×clips, z, max-SE MDD",
    "tables": {
        "table1": {"mdd": {"source": 0.0278, "sensor": 0.0299}},
        "table2": {"mdd": {"source": 0.013, "sensor": 0.037}},
    },
}


@pytest.fixture()
def old_full(tmp_path):
    f = tmp_path / "book-full.json"
    f.write_text(json.dumps(_OLD_FULL))
    return f


def test_measured_build_paragraph_comes_from_the_results_file(old_full):
    build = measured.load_build(old_full)
    text = prose.measured_build(build)
    assert "`72f9f7a` (2026-12-01)" in text and "76.6 min" in text
    assert "are 0.028 / 0.030 (source / sensor) for Table 1 and 0.013 / 0.037 for Table 2" in text
    assert "AMD EPYC" in text and "earlier statistical procedure" in text
    assert "book-full.json" in text
    missing = prose.measured_build(None, "full")
    assert "No measured build" in missing and not re.search(r"\d\.\d{3}", missing)


def test_choice_firmness_reads_the_probabilities():
    val = pd.DataFrame({"P(best)": [0.47, 0.22, 0.31]}, index=["a", "b", "c"])
    text = prose.choice_firmness(val, "a")
    assert "**a**, is the best on validation in 47%" in text and "runner-up, c, in 31%" in text
    assert "coin toss" in text
    clear = pd.DataFrame({"P(best)": [0.95, 0.05]}, index=["a", "b"])
    assert "The choice is clear." in prose.choice_firmness(clear, "a")


def test_label_efficiency_summary_names_the_leader_and_the_tests():
    rows = []
    for enc, est in (("frontend only", (0.10, 0.60)), ("multiview (m)", (0.20, 0.64))):
        for f, e, n in zip((0.05, 1.0), est, (12.0, 288.0), strict=True):
            rows.append(
                {"encoder": enc, "task": "sensor", "fraction": f, "n_train": n, "estimate": e}
            )
    scores = pd.DataFrame(rows)
    comp = pd.DataFrame(
        {
            "encoder": ["frontend only"] * 2,
            "task": ["sensor"] * 2,
            "fraction": [0.05, 1.0],
            "estimate": [-0.10, -0.04],
            "ci_low": [-0.15, -0.09],
            "ci_high": [-0.05, 0.01],
            "p_holm": [0.0004, 0.2],
            "significant": [True, False],
        }
    )
    text = prose.label_efficiency_summary(scores, comp, "multiview (m)")
    assert (
        "with 5% of the labels (≈12 clips) the highest sensor accuracy is multiview (m)'s, 0.200"
        in text
    )
    assert "frontend only − multiview (m): -0.100 [-0.150, -0.050], Holm p < 0.001" in text
    assert "-0.040 [-0.090, +0.010], Holm p 0.200, not resolved" in text
    few = prose.label_efficiency_summary(scores, comp.assign(resolvable=False), "multiview (m)")
    assert "Holm p 0.200, too few units" in few


def test_figures_kept_from_an_earlier_measurement_name_their_own_commit(tmp_path):
    d = dict(_OLD_FULL)
    d.update(commit="new1234", date="2026-12-09", wall_s=4000.0)
    d["kept_from"] = {"commit": "72f9f7a", "date": "2026-12-01", "fields": ["tables"]}
    f = tmp_path / "book-full.json"
    f.write_text(json.dumps(d))
    text = prose.measured_build(measured.load_build(f))
    assert "at commit `new1234` (2026-12-09): 66.7 min" in text
    assert "differences (measured at commit `72f9f7a`, 2026-12-01) are 0.028 / 0.030" in text


def test_per_row_mdds_of_the_books_procedure_are_stated_with_their_own_provenance(tmp_path):
    d = dict(_OLD_FULL, procedure="cluster")
    d["tables"] = {
        "table1": {"mdd": {t: {"median": 0.04, "min": 0.02, "max": 0.09} for t in TASKS}},
        "table2": {"mdd": {t: {"median": 0.03, "min": 0.01, "max": 0.05} for t in TASKS}},
    }
    d["tables_measured"] = {"commit": "abc9999", "date": "2026-12-04", "command": "power.py"}
    f = tmp_path / "book-full.json"
    f.write_text(json.dumps(d))
    build = measured.load_build(f)
    assert build.mdd("table1", "source") == 0.04  # the median of the per-row MDDs
    assert build.mdd_range("table2", "sensor") == (0.03, 0.01, 0.05)
    text = prose.measured_build(build)
    assert "(measured at commit `abc9999`, 2026-12-04)" in text
    assert "median (range) 0.040 (0.020–0.090) / 0.040 (0.020–0.090)" in text
    assert "0.030 (0.010–0.050) / 0.030 (0.010–0.050) in Table 2" in text
    assert "earlier statistical procedure" not in text


def _candidate(design, all_mdd, cost, fits, epochs=15, too_few=0, expected=0.0):
    summary = {"all": all_mdd, "too_few": too_few, "too_few_expected": expected}
    for t in ("table1", "table2"):
        for task in ("source", "sensor"):
            summary[f"{t} {task}"] = all_mdd
    return {"design": design, "summary": summary, "cost_s": cost, "fits": fits, "epochs": epochs}


def test_the_design_choice_says_what_this_design_traded():
    from mvlib import load_config

    design = {
        "commit": "abc123",
        "date": "2026-12-07",
        "budget_s": 900.0,
        "candidates": [
            _candidate("4s×1k 80c 15e", 0.068, 750.0, True),
            _candidate("6s×1k 80c 10e", 0.063, 847.0, True, epochs=10),
            _candidate("2s×3k 80c 15e", 0.044, 1026.0, False, expected=4.4),
        ],
    }
    cfg = load_config("default", {"sweep.seeds": [0, 1, 2, 3]})
    text = prose.design_choice(design, cfg)
    assert "This profile's design is 4s×1k 80c 15e: predicted median MDD 0.068" in text
    assert "2s×3k 80c 15e, would reach median MDD 0.044" in text and "17.1 min" in text
    assert "staying within the budget" in text and "expects 4.4" in text
    assert "most powerful within the budget, 6s×1k 80c 10e, would reach median MDD 0.063" in text
    assert "a training as long as the measured one" in text
    other = prose.design_choice(design, load_config("default", {"sweep.seeds": [0, 1]}))
    assert "is not among its candidates" in other
    assert "No design benchmark" in prose.design_choice(None, cfg)
    table = prose.design_candidates(design)
    assert list(table["fits"]) == ["yes", "yes", "no"]
