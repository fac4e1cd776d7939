"""benchmarks/README.md is rendered from benchmarks/results/*.json and up to date with them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import readme  # noqa: E402  (benchmarks/readme.py: a script, not a package)

FILES = sorted((ROOT / "benchmarks" / "results").glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_results_file_renders_with_machine_date_and_commit(path):
    text = readme.render_file(path)
    d = json.loads(path.read_text())
    assert f"results/{path.name}" in text and "machine: " in text and "date: 20" in text
    assert "commit: `" in text
    if path.name.startswith("book-"):  # a book build must name its commit and its times
        assert f"commit: `{d['commit']}`" in text
        assert f"{d['wall_s']:.1f} s" in text
        for name, sec in d["chapters"].items():
            assert f"| {name} | {sec:.1f} |" in text


def test_the_readme_is_up_to_date_with_the_results_files():
    assert (
        ROOT / "benchmarks" / "README.md"
    ).read_text() == readme.render(), (
        "benchmarks/README.md is out of date: run python benchmarks/readme.py"
    )
    check = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "readme.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_file_without_its_machine_is_refused(tmp_path):
    f = tmp_path / "x.json"
    f.write_text(json.dumps({"what": "x", "date": "2026-12-01", "commit": "abc"}))
    with pytest.raises(readme.ResultsError, match="x.json: no machine"):
        readme.render_file(f)
    f.write_text(json.dumps({"what": "x", "machine": {"cpu": "c"}, "commit": "abc"}))
    with pytest.raises(readme.ResultsError, match="no date"):
        readme.render_file(f)


def test_remeasured_times_name_where_the_kept_mdds_come_from(tmp_path):
    d = json.loads((ROOT / "benchmarks" / "results" / "book-full.json").read_text())
    d.pop("tables_measured", None)  # the MDDs' provenance: only kept_from's, here
    d.update(commit="new1234", date="2026-12-09")
    d["kept_from"] = {"commit": "72f9f7a", "date": "2026-12-01", "fields": ["tables"]}
    d["browser"] = {"pages_checked": 12, "pages_passed": 11, "failed": ["02_dac_extraction"]}
    f = tmp_path / "book-full.json"
    f.write_text(json.dumps(d))
    text = readme.render_file(f)
    assert "commit: `new1234`" in text
    assert "These MDDs were measured at commit `72f9f7a` (2026-12-01)" in text
    assert "11 of 12 pages pass (failed: 02_dac_extraction)" in text


def test_the_top_readme_states_the_figures_of_the_results_file_it_names():
    text = (ROOT / "README.md").read_text()
    d = json.loads((ROOT / "benchmarks" / "results" / "book-default.json").read_text())
    assert "benchmarks/results/book-default.json" in text
    assert f"**{d['wall_s']:.1f} s**" in text
    mdd = d["tables"]["table1"]["mdd"]
    assert f"**{mdd['source']['median']:.3f}**" in text  # per-row MDDs: their median
    assert f"**{mdd['sensor']['median']:.3f}**" in text
