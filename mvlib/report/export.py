"""The tables as files: CSV under the cache, and a download link that travels in the page.

Where the files go
------------------
mvlib writes only into the cache and folders it created, never into the working folder
(a chapter run by papermill from any folder must leave that folder as it was). The CSVs
therefore go to ``$MVLIB_CACHE/tables/<profile>/`` by default (:func:`default_tables_dir`),
or to a folder the caller names, which mvlib creates and marks (:func:`tables_dir`).

How a reader downloads them
---------------------------
jupyter-book's ``{download}`` role copies a file found *relative to the page's source*
when the page is built; a CSV written into the cache is not there, and writing beside the
notebook would write into whatever folder papermill runs it from. So a chapter shows
:func:`download_link` instead: an HTML link whose ``href`` is a ``data:text/csv`` URI
holding the file itself (base64). The same link works in the built HTML (no file to
copy, no network), in a live Jupyter session and in a papermill output notebook, and it
cannot break when the book is moved. The tables are small (a few kB), so the page grows
by little.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mvlib.core.cache import atomic_write_text, cache_root
from mvlib.core.errors import MvlibError
from mvlib.report.comparison import Table

__all__ = [
    "MARKER",
    "default_tables_dir",
    "tables_dir",
    "write_csv",
    "write_frame",
    "snake",
    "Download",
    "download_link",
]

MARKER = ".mvlib-tables"  #: marks a tables folder as created by mvlib


def default_tables_dir(profile: str) -> Path:
    """Where a profile's tables go when the caller names no folder: the cache's
    ``tables/<profile>/`` (not created here; :func:`tables_dir` creates and marks it)."""
    return cache_root() / "tables" / str(profile)


def tables_dir(path) -> Path:
    """A folder for the tables' CSV files, created and marked by mvlib.

    mvlib writes only into folders it created: an existing folder without mvlib's marker
    file is refused.
    """
    path = Path(path)
    if path.exists():
        if not (path / MARKER).exists():
            raise MvlibError(
                path,
                "exists and was not created by mvlib (no marker file), so mvlib will not write "
                "into it",
                "pass another tables_dir, or remove the folder",
            )
        return path
    path.mkdir(parents=True)
    atomic_write_text(path / MARKER, "Created by mvlib (mvlib.report); its files are rewritten.\n")
    return path


def write_csv(table: Table, folder) -> Path:
    """Write ``table.data`` as ``<folder>/<name>.csv`` (and the notes as ``<name>.notes.md``).

    One row per configuration: its scores and CIs, the paired comparison with the reference
    (estimate, CI, SE, p, Holm p, the row's minimum detectable difference, winner), the
    secondary metrics, the paper's numbers, and the row's provenance (profile, seeds, git
    commit(s), data, frontend, weights and their hash). Column names are snake_case ASCII;
    an empty cell means "no value" (never NaN). ``folder`` must be one mvlib created
    (:func:`tables_dir`).
    """
    folder = tables_dir(folder)
    out = write_frame(table.data, table.name, folder)
    atomic_write_text(folder / f"{table.name}.notes.md", table.notes + "\n")
    return out


def write_frame(data: pd.DataFrame, name: str, folder) -> Path:
    """Write any results frame as ``<folder>/<name>.csv`` (snake_case columns, no NaN)."""
    folder = tables_dir(folder)
    out = folder / f"{name}.csv"
    data = data.copy()
    data.columns = [snake(str(c)) for c in data.columns]
    atomic_write_text(out, data.to_csv(index=False, na_rep="", float_format="%.6g"))
    return out


def snake(col: str) -> str:
    """``"Δ source ci_low"`` -> ``"delta_source_ci_low"``; ``"source Jaccard (empty=0)"`` ->
    ``"source_jaccard_empty0"``."""
    col = col.replace("Δ", "delta").replace("(empty=0)", "empty0")
    return "_".join(col.lower().replace("(", " ").replace(")", " ").split())


@dataclass(frozen=True)
class Download:
    """A file offered for download inside the page (see the module docstring)."""

    path: Path
    text: str

    def _repr_html_(self) -> str:
        data = base64.b64encode(Path(self.path).read_bytes()).decode("ascii")
        name = html.escape(Path(self.path).name)
        return (
            f'<p class="mvlib-download">Download: <a download="{name}" '
            f'href="data:text/csv;base64,{data}">{html.escape(self.text)}</a> '
            f"<small>(also at <code>{html.escape(_short(self.path))}</code>)</small></p>"
        )

    def _repr_markdown_(self) -> str:  # text front ends: where the file is
        return f"Download: {self.text}: `{self.path}`"


def _short(path: Path) -> str:
    """The path as a reader sees it: under ``$MVLIB_CACHE`` when it is there."""
    try:
        return os.path.join("$MVLIB_CACHE", str(Path(path).relative_to(cache_root())))
    except ValueError:
        return str(path)


def download_link(path, text: str | None = None) -> Download:
    """A download link carrying the file itself (``data:`` URI), for a chapter to display."""
    path = Path(path)
    return Download(path, text or f"{path.stem} as CSV")
