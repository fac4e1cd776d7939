"""Chapter 4 beside other profiles: measured tables and claims come from the results file."""

import json

import pytest
from fake_results import make_results

from mvlib.report import measured, profiles, tables
from mvlib.report.claims import claims

_CODEC = {
    "what": "book build from an empty cache (benchmarks/book.py)",
    "profile": "codec",
    "commit": "abc1234",
    "date": "2026-12-07",
    "machine": {"cpu": "AMD EPYC", "cores": 2},
    "wall_s": 1500.0,
    "procedure": "cluster",
    "tables": {
        "table1": {
            "mdd": {"source": {"median": 0.05, "min": 0.03, "max": 0.07}},
            "comparisons": [
                {
                    "configuration": "frontend only",
                    "task": "sensor",
                    "estimate": -0.0412,
                    "ci_low": -0.08,
                    "ci_high": -0.002,
                    "p_holm": 0.031,
                    "mdd": 0.061,
                    "verdict": "better",
                }
            ],
        }
    },
    "claims": [
        {"claim": "It beats the frontend features alone on both tasks", "verdict": "holds here"}
    ],
}


@pytest.fixture()
def codec_build(tmp_path):
    f = tmp_path / "book-codec.json"
    f.write_text(json.dumps(_CODEC))
    return measured.load_build(f)


def test_a_measured_table_states_the_files_numbers(codec_build):
    t = profiles.measured_comparisons(codec_build, "table1")
    row = t.loc[("frontend only", "sensor")]
    assert row["Δ [95% CI]"] == "-0.041 [-0.080, -0.002]"
    assert (row["Holm p"], row["MDD"], row["verdict"]) == ("0.031", "0.061", "better")
    with pytest.raises(KeyError, match="table2"):
        profiles.measured_comparisons(codec_build, "table2")


def test_claims_side_by_side_names_each_profiles_verdict(tmp_path, codec_build):
    df = make_results(tmp_path / "runs")
    here = claims(df, tables.table1(df))
    t = profiles.claims_side_by_side(here, "logmel (this build)", {"codec": codec_build, "x": None})
    assert list(t.index) == [c.text for c in here]
    assert list(t["logmel (this build)"]) == [c.verdict for c in here]
    assert t.loc["It beats the frontend features alone on both tasks", "codec"] == "holds here"
    others = [c.text for c in here if not c.text.startswith("It beats the frontend")]
    assert set(t.loc[others, "codec"]) == {"not measured"}
    assert set(t["x"]) == {"not measured"}
