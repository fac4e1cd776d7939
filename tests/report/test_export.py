"""CSV files under the cache and download links that carry the file (mvlib.report.export)."""

import base64
import re

import pytest
from fake_results import make_results

from mvlib.core.errors import MvlibError
from mvlib.report import export, tables


@pytest.fixture(scope="module")
def table1(tmp_path_factory):
    return tables.table1(make_results(tmp_path_factory.mktemp("runs")))


def test_default_folder_is_in_the_cache_and_nothing_lands_in_the_cwd(table1, tmp_path, monkeypatch):
    cache, cwd = tmp_path / "cache", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("MVLIB_CACHE", str(cache))
    monkeypatch.chdir(cwd)
    folder = export.tables_dir(export.default_tables_dir("ci"))
    assert folder == cache / "tables" / "ci" and (folder / export.MARKER).is_file()
    out = export.write_csv(table1, folder)
    assert out == folder / "table1.csv" and (folder / "table1.notes.md").is_file()
    assert list(cwd.iterdir()) == []  # the working folder stays empty
    # a second run reuses the folder mvlib made; a folder it did not make is refused
    export.write_csv(table1, export.tables_dir(export.default_tables_dir("ci")))
    (tmp_path / "mine").mkdir()
    with pytest.raises(MvlibError, match="not created by mvlib"):
        export.tables_dir(tmp_path / "mine")


def test_download_link_carries_the_file_itself(table1, tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    out = export.write_csv(table1, export.tables_dir(export.default_tables_dir("ci")))
    html = export.download_link(out, "Table 1 as CSV")._repr_html_()
    m = re.search(
        r'<a download="table1.csv" href="data:text/csv;base64,([^"]+)">Table 1 as CSV</a>', html
    )
    assert m, html[:300]
    assert base64.b64decode(m.group(1)) == out.read_bytes()
    assert "$MVLIB_CACHE/tables/ci/table1.csv" in html  # where the file also is
    assert str(out) in export.download_link(out)._repr_markdown_()


def test_csv_columns_are_snake_case_ascii():
    assert export.snake("Δ source ci_low") == "delta_source_ci_low"
    assert export.snake("source Jaccard (empty=0)") == "source_jaccard_empty0"
