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


def test_full_build_figures_as_measured():
    b = measured.load_build(measured.book_results_file("full"))
    assert (b.commit, b.wall_s) == ("72f9f7a", 4597.2)
    assert (b.mdd("table1", "source"), b.mdd("table1", "sensor")) == (0.0278, 0.0299)
    assert b.procedure == "paired bootstrap seeds×clips, z, max-SE MDD"


def test_missing_file_is_none_and_a_file_without_provenance_is_refused(tmp_path):
    assert measured.load_build(tmp_path / "book-x.json") is None
    f = tmp_path / "book-x.json"
    f.write_text(json.dumps({"what": "x", "profile": "x", "wall_s": 1.0, "date": "2026-01-01"}))
    with pytest.raises(MvlibError, match="lacks commit, machine"):
        measured.load_build(f)
    f.write_text("{")
    with pytest.raises(MvlibError, match="not valid JSON"):
        measured.load_build(f)
