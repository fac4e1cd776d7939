"""Results files of measured book builds (mvlib.report.measured)."""

import json

import pytest

from mvlib.core.errors import MvlibError
from mvlib.report import measured


@pytest.mark.parametrize("profile", ["default", "full"])
def test_the_repository_results_files_load_with_their_provenance(profile):
    b = measured.load_build(measured.book_results_file(profile))
    assert b is not None and b.profile == profile
    assert b.commit and b.date and b.machine["cpu"] and b.machine["cores"] == 2
    # the chapters' seconds add up to the chapter total the build measured (< wall time)
    assert 0 < sum(b.chapters.values()) <= b.wall_s
    assert b.procedure  # which statistical procedure made its table figures
    for table in ("table1", "table2"):
        for task in ("source", "sensor"):
            assert 0 < b.mdd(table, task) < 0.2


def test_the_former_one_mdd_per_table_and_the_per_row_range_both_read(tmp_path):
    f = tmp_path / "book-x.json"
    base = {"what": "w", "profile": "x", "commit": "c", "date": "d", "machine": {}, "wall_s": 1}
    f.write_text(json.dumps({**base, "tables": {"table1": {"mdd": {"source": 0.0278}}}}))
    b = measured.load_build(f)
    assert b.mdd("table1", "source") == 0.0278 and not b.per_row
    assert b.mdd_range("table1", "source") == (0.0278,) * 3 and b.mdd("table2", "source") is None
    per_row = {"source": {"median": 0.05, "min": 0.02, "max": 0.11}}
    f.write_text(
        json.dumps({**base, "procedure": "cluster", "tables": {"table1": {"mdd": per_row}}})
    )
    b = measured.load_build(f)
    assert b.per_row and b.mdd("table1", "source") == 0.05
    assert b.mdd_range("table1", "source") == (0.05, 0.02, 0.11)


def test_missing_file_is_none_and_a_file_without_provenance_is_refused(tmp_path):
    assert measured.load_build(tmp_path / "book-x.json") is None
    f = tmp_path / "book-x.json"
    f.write_text(json.dumps({"what": "x", "profile": "x", "wall_s": 1.0, "date": "2026-01-01"}))
    with pytest.raises(MvlibError, match="lacks commit, machine"):
        measured.load_build(f)
    f.write_text("{")
    with pytest.raises(MvlibError, match="not valid JSON"):
        measured.load_build(f)


def test_the_design_benchmarks_file_is_read_with_its_provenance(tmp_path):
    import json

    from mvlib.core.errors import MvlibError
    from mvlib.report.measured import load_design

    assert load_design(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"candidates": []}))
    with pytest.raises(MvlibError, match="lacks what, commit, date, machine, budget_s"):
        load_design(bad)
    good = tmp_path / "good.json"
    fields = {"what": "w", "commit": "c", "date": "d", "machine": {}, "budget_s": 900.0}
    good.write_text(json.dumps({**fields, "candidates": []}))
    assert load_design(good)["budget_s"] == 900.0
