"""Reading and validating a SONYC-UST-V2 ``annotations.csv``: one typed row per CSV row.

``annotations.csv`` has one row per (clip, annotator). ``annotator_id`` > 0 is a crowd
volunteer, < 0 a SONYC team member and == 0 the verified ground truth. Presence values are
1, 0 or -1, where -1 means "not labelled", never a negative. A folder of unlabelled sensor
audio may list only ``audio_filename, sensor_id`` (optionally ``split``).

Every cell is checked as it is read, and a bad one stops the reading with one line naming
the file, line, column and value: an ``audio_filename`` must stay inside ``audio/``
(:func:`mvlib.data.paths.safe_member_name`: no absolute path, no ``..``), so that an
annotations file never decides which other files on the machine mvlib reads.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.errors import MvlibError
from mvlib.data import taxonomy
from mvlib.data.paths import safe_member_name, unsafe_reason

#: Column added by :func:`read_annotations`: the 1-based line of each row (header = line 1).
LINE_COLUMN = "csv_line"
TIME_COLUMNS = ("year", "week", "day", "hour")
#: Inclusive ranges of the integer time columns (day 0 = Monday).
_TIME_RANGES = {"year": (0, 9999), "week": (0, 53), "day": (0, 6), "hour": (0, 23)}
_LOCATION_RANGES = {"latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0)}
#: Identifier columns kept as stripped strings (sensor ids etc. are names, not numbers).
_ID_COLUMNS = ("sensor_id", "audio_filename", "borough", "block")
PRESENCE_VALUES = (1, 0, -1)
_PRESENCE_TEXT = {str(v): v for v in PRESENCE_VALUES}  #: the cells "1", "0", "-1" as written
#: Columns a folder of unlabelled sensor audio needs (``split`` is optional).
MINIMAL_COLUMNS = ("audio_filename", "sensor_id")
#: Clips named in a message before ``...``.
MAX_LISTED = 5
_ANN_FIX = "correct annotations.csv (mvlib never changes it)"


class AnnotationError(MvlibError, ValueError):
    """Malformed or inconsistent SONYC annotations (names file, line, column, value).

    Built as ``AnnotationError(culprit, what, fix)`` or from one ``"<file>: <what>"`` message.
    """

    def __init__(self, culprit, what: str = "", fix: str = ""):
        if not what:
            culprit, _, what = str(culprit).partition(": ")
        super().__init__(culprit, what, fix or _ANN_FIX)


class MissingAnnotationsError(MvlibError, FileNotFoundError):
    """No ``annotations.csv`` where a dataset should be."""


# ---------------------------------------------------------------------------------------------
# reading and validating annotations.csv
# ---------------------------------------------------------------------------------------------


def read_annotations(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a SONYC-UST-V2 ``annotations.csv``.

    Parameters
    ----------
    path : str or PathLike
        The CSV file.

    Returns
    -------
    pd.DataFrame
        One row per annotation row, file order. Presence columns int8 in {1, 0, -1};
        ``annotator_id`` and the time columns int64; latitude/longitude float64 (NaN
        where empty); ``split``, identifiers (``sensor_id``, ``audio_filename``,
        ``borough``, ``block``) and proximities as str; plus :data:`LINE_COLUMN`, the
        1-based line of the row. ``df.attrs["source"]`` is the path.

    Raises
    ------
    AnnotationError
        Missing required column, wrong field count, unknown split, a presence value
        not in {1, 0, -1}, a non-integer annotator id, a bad time or proximity value.
    """
    path = Path(path)
    header, rows, lines = _read_csv_rows(path)
    src = str(path)
    _check_columns(header, src)
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    lines = np.asarray(lines, dtype=np.int64)
    out = pd.DataFrame(index=raw.index)
    for col in header:
        out[col] = _convert_column(raw[col], col, src, lines)
    out[LINE_COLUMN] = lines
    out.attrs["source"] = src
    return out


def _read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and the 1-based line each row starts on (blank lines skipped)."""
    if not path.is_file():
        raise MissingAnnotationsError(
            path,
            "annotations file not found",
            "point data.root at a folder holding annotations.csv and audio/",
        )
    rows, lines = [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise AnnotationError(f"{path}: line 1: empty file, expected a CSV header")
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise AnnotationError(f"{path}: line 1 (header): duplicate column(s) {dup}")
        end = reader.line_num
        for rec in reader:
            start, end = end + 1, reader.line_num
            if not rec:
                continue
            if len(rec) != len(header):
                raise AnnotationError(
                    f"{path}: line {start}: {len(rec)} fields, expected {len(header)} "
                    "as in the header"
                )
            rows.append(rec)
            lines.append(start)
    if not rows:
        raise AnnotationError(f"{path}: no data rows after the header (line 1)")
    return header, rows, lines


def _check_columns(header: list[str], src: str) -> None:
    coarse = taxonomy.coarse_presence_columns()
    if "annotator_id" not in header and not any(c in header for c in coarse):
        missing = [c for c in MINIMAL_COLUMNS if c not in header]
        if not missing:
            return  # unlabelled sensor audio: filename and sensor (split optional)
    required = taxonomy.META_COLUMNS + coarse
    missing = [c for c in required if c not in header]
    if missing:
        raise AnnotationError(
            src,
            f"line 1 (header): missing required column(s) {missing}",
            "give the SONYC-UST-V2 metadata and coarse presence columns, or for unlabelled "
            "audio only audio_filename, sensor_id (and optionally split)",
        )


@lru_cache(maxsize=1)
def _column_kinds() -> dict[str, str]:
    kinds = {"split": "split", "annotator_id": "annotator"}
    kinds.update({c: "id" for c in _ID_COLUMNS})
    kinds.update({c: "time" for c in TIME_COLUMNS})
    kinds.update({c: "location" for c in _LOCATION_RANGES})
    kinds.update({c: "presence" for c in taxonomy.coarse_presence_columns()})
    for pres, prox in taxonomy.fine_columns():
        kinds[pres], kinds[prox] = "presence", "proximity"
    return kinds


def _convert_column(raw: pd.Series, col: str, src: str, lines: np.ndarray) -> pd.Series:
    """Validate one raw string column and convert it to its dtype (unknown columns: str)."""
    kind = _column_kinds().get(col, "other")
    # fast paths for the common case of clean cells (a dict lookup, no per-cell strip);
    # any other cell (spaces, "1.0", a bad value) takes the general path below
    if kind == "presence":
        exact = raw.map(_PRESENCE_TEXT)
        if exact.notna().all():
            return exact.astype(np.int8)
    elif kind in ("split", "proximity"):
        choices = taxonomy.DATASET_SPLITS if kind == "split" else taxonomy.PROXIMITY_VALUES
        if raw.isin(choices).all():
            return raw.astype(str)
    text = raw.astype(str).str.strip()
    if kind == "presence":
        pres = _int_column(text, col, src, lines, "1, 0 or -1", allowed=PRESENCE_VALUES)
        return pres.astype(np.int8)
    if kind == "annotator":
        return _int_column(text, col, src, lines, "an integer annotator id")
    if kind == "time":
        lo, hi = _TIME_RANGES[col]
        return _int_column(text, col, src, lines, f"an integer in [{lo}, {hi}]", span=(lo, hi))
    if kind == "location":
        return _float_column(text, col, src, lines)
    if kind == "split":
        return _choice_column(text, col, src, lines, taxonomy.DATASET_SPLITS)
    if kind == "proximity":
        return _choice_column(text, col, src, lines, taxonomy.PROXIMITY_VALUES)
    if kind == "id":
        _raise_first(text == "", text, col, src, lines, "a non-empty identifier")
    if col == "audio_filename":
        _check_member_names(text, src, lines)
    return text.astype(str)


def _check_member_names(text: pd.Series, src: str, lines: np.ndarray) -> None:
    """Refuse the first ``audio_filename`` that would leave ``audio/`` (absolute, ``..``)."""
    names = pd.unique(text)
    bad = {n for n in names if unsafe_reason(n) is not None}
    if bad:
        i = int(np.flatnonzero(text.isin(bad).to_numpy())[0])
        n_bad = int(text.isin(bad).sum())
        more = f" ({n_bad} bad values in this column)" if n_bad > 1 else ""
        safe_member_name(
            text.iloc[i],
            f"{src}: line {lines[i]}, column 'audio_filename'{more}",
            "value",
        )


def _int_column(text, col, src, lines, expected, allowed=None, span=None) -> pd.Series:
    """Integers (``1.0`` counts as 1), optionally from ``allowed`` or in the range ``span``."""
    num = pd.to_numeric(text, errors="coerce").astype(float)
    ok = np.isfinite(num) & (num == np.round(num))
    if allowed is not None:
        ok &= num.isin(allowed)
    if span is not None:
        ok &= num.between(*span)
    _raise_first(~ok, text, col, src, lines, expected)
    return num.astype(np.int64)


def _float_column(text, col, src, lines) -> pd.Series:
    """Floats in range; an empty cell is NaN (location is unknown), anything else an error."""
    lo, hi = _LOCATION_RANGES[col]
    num = pd.to_numeric(text, errors="coerce").astype(float)
    bad = (text != "") & ~(np.isfinite(num) & num.between(lo, hi))
    _raise_first(bad, text, col, src, lines, f"a number in [{lo}, {hi}] or empty")
    return num


def _choice_column(text, col, src, lines, choices) -> pd.Series:
    _raise_first(~text.isin(choices), text, col, src, lines, f"one of {list(choices)}")
    return text.astype(str)


def _raise_first(bad: pd.Series, text, col, src, lines, expected: str) -> None:
    """Raise for the first True in ``bad``, saying how many cells of the column are bad."""
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    n = int(bad.sum())
    more = f" ({n} bad values in this column)" if n > 1 else ""
    raise AnnotationError(
        f"{src}: line {lines[i]}, column '{col}': value {text.iloc[i]!r}, expected {expected}{more}"
    )
