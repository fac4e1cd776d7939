"""Labels of a clip table: the label matrix of a task, and the label table of a folder.

:func:`label_matrix` is the one way from a clip table to the targets of a task (the 8 coarse
source classes as a 0/1 matrix, or the sensor of each clip). :func:`write_labels` writes
the aggregated label table of a dataset folder (``mvlib labels DATA_DIR --out labels.csv``):
one row per clip: ``audio_filename, split, sensor_id, labelled`` and the 8 coarse classes
``1_engine … 8_dog`` as 0/1, aggregated as the DCASE-2020 baseline does (see
:mod:`mvlib.data.sonyc`). ``labelled`` is 0 for clips kept without a usable label (their class
columns are 0 and mean nothing); :func:`write_labels` says which were excluded and why.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.cache import atomic_write_text
from mvlib.core.errors import MvlibError
from mvlib.data import sonyc, taxonomy
from mvlib.data.aggregate import AggregationReport

#: What a clip table can be labelled by: its sources (8 coarse classes) or its sensor.
LABEL_TASKS = ("source", "sensor")

#: Columns of the label table, in file order.
COLUMNS = ("audio_filename", "split", "sensor_id", "labelled", *taxonomy.coarse_label_columns())


def label_matrix(clips: pd.DataFrame, task: str = "source") -> np.ndarray:
    """The targets of ``task`` for each row of a clip table.

    Parameters
    ----------
    clips : pd.DataFrame
        A clip table (:func:`mvlib.data.sonyc.load_clips`, a truth table, a subset of rows).
    task : {"source", "sensor"}
        ``"source"``: the 8 coarse classes; ``"sensor"``: the recording sensor.

    Returns
    -------
    np.ndarray
        ``"source"``: ``int64[N x 8]`` of 0/1 in taxonomy order
        (``taxonomy.coarse_label_columns()``), an unlabelled clip's row all 0;
        ``"sensor"``: ``str[N]``, each clip's ``sensor_id`` as text.

    Raises
    ------
    ValueError
        An unknown task, a missing column, or a source label other than 0/1 (naming the
        column and row).
    """
    if task == "sensor":
        if "sensor_id" not in clips.columns:
            raise ValueError("clip table: missing column 'sensor_id'")
        return clips["sensor_id"].astype(str).to_numpy()  # (N,)
    if task != "source":
        raise ValueError(f"label task {task!r}: expected one of {list(LABEL_TASKS)}")
    cols = list(taxonomy.coarse_label_columns())
    missing = [c for c in cols if c not in clips.columns]
    if missing:
        raise ValueError(f"clip table: missing label column(s) {missing}")
    y = clips[cols].to_numpy()
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"clip table: column {cols[col]!r} row {row} is {np.asarray(y[row, col]).tolist()!r}, "
            "expected 0 or 1"
        )
    return y.astype(np.int64)  # (N, 8)


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
) -> tuple[pd.DataFrame, AggregationReport]:
    """Aggregate ``<data_dir>/annotations.csv`` and write the label table to ``out``.

    The dataset folder is only read. ``out`` may not lie inside it, and an existing
    ``out`` is replaced only with ``force``.

    Returns
    -------
    (table, report)
        The table written and the :class:`mvlib.data.aggregate.AggregationReport`.
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


def describe(table: pd.DataFrame, report: AggregationReport) -> list[str]:
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
