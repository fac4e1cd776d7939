"""The aggregated label table of a dataset folder (``mvlib labels DATA_DIR --out labels.csv``).

One row per clip: ``audio_filename, split, sensor_id, labelled`` and the 8 coarse classes
``1_engine … 8_dog`` as 0/1, aggregated as the DCASE-2020 baseline does (see
:mod:`mvlib.data.sonyc`). ``labelled`` is 0 for clips kept without a usable label (their class
columns are 0 and mean nothing); :func:`write_labels` says which were excluded and why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mvlib.core.cache import atomic_write_text
from mvlib.core.errors import MvlibError
from mvlib.data import sonyc, taxonomy

#: Columns of the label table, in file order.
COLUMNS = ("audio_filename", "split", "sensor_id", "labelled", *taxonomy.coarse_label_columns())


def label_table(clips: pd.DataFrame) -> pd.DataFrame:
    """The clip table reduced to :data:`COLUMNS` (labels int 0/1), sorted by file name."""
    out = clips.loc[:, list(COLUMNS)].copy()
    for c in ("labelled", *taxonomy.coarse_label_columns()):
        out[c] = out[c].astype(int)
    return out.sort_values("audio_filename", ignore_index=True)


def write_labels(
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    strict: bool = False,
    force: bool = False,
) -> tuple[pd.DataFrame, sonyc.AggregationReport]:
    """Aggregate ``<data_dir>/annotations.csv`` and write the label table to ``out``.

    The dataset folder is only read. ``out`` may not lie inside it, and an existing
    ``out`` is replaced only with ``force``.

    Returns
    -------
    (table, report)
        The table written and the :class:`mvlib.data.sonyc.AggregationReport`.
    """
    data_dir = Path(data_dir).expanduser()
    out = Path(out).expanduser()
    if not (data_dir / "annotations.csv").is_file():
        raise MvlibError(
            data_dir,
            "no annotations.csv: not a dataset folder",
            "give the folder that holds annotations.csv and audio/",
        )
    if out.resolve().is_relative_to(data_dir.resolve()):
        raise MvlibError(
            out,
            f"lies inside the dataset folder {data_dir}, which mvlib never writes to",
            "write the table elsewhere (--out OTHER_DIR/labels.csv)",
        )
    if out.exists() and not force:
        raise MvlibError(out, "already exists", "pass --force to replace it, or another --out")
    clips, report = sonyc.load_clips_report(data_dir, check_audio=False, strict=strict)
    table = label_table(clips)
    atomic_write_text(out, table.to_csv(index=False))
    return table, report


def describe(table: pd.DataFrame, report: sonyc.AggregationReport) -> list[str]:
    """Lines for the console: counts, and each exclusion with its reason and first names."""
    n_lab = int(table["labelled"].sum())
    lines = [f"{len(table)} clips: {n_lab} labelled, {len(table) - n_lab} unlabelled"]
    lines += [f"excluded from labels: {line}" for line in report.exclusions()]
    if report.n_duplicate_rows:
        lines.append(f"{report.n_duplicate_rows} identical duplicate row(s) dropped")
    if report.n_verified_unlabelled:
        lines.append(
            f"{report.n_verified_unlabelled} coarse -1 value(s) in verified rows of "
            f"{report.n_verified_unlabelled_clips} clip(s) read as 0"
        )
    return lines
