"""Read SONYC-UST-V2 annotations and aggregate them to one coarse label per clip.

A dataset folder holds ``annotations.csv`` and ``audio/<audio_filename>``; the
real SONYC-UST-V2 release and our synthetic sets share this layout, so the same
loader reads both.

``annotations.csv`` has one row per (clip, annotator). ``annotator_id`` > 0 is
a crowd volunteer, < 0 a SONYC team member and == 0 the verified ground truth.
Presence values are 1, 0 or -1, where -1 means "not labelled", never a negative.

Labels are aggregated exactly as the official DCASE-2020 task-5 baseline does:

* ``train`` clips: volunteer rows only; a class is present if ANY volunteer
  marked it 1 (a -1 is not a vote).
* ``validate`` / ``test`` clips: the single verified row (``annotator_id == 0``);
  a -1 there is read as 0, counted and reported.

Every row left out by these rules is counted in :class:`AggregationReport`.

Clips without usable labels are kept as *unlabelled* views (column ``labelled`` = 0, label
columns 0, ``label_source`` "none"): pairing needs only ``sensor_id``, and probes use
labelled clips only. That covers validate/test clips without a verified row (excluded
from evaluation, as the DCASE-2020 baseline does), train clips without a volunteer row,
clips whose every coarse value is -1, and a folder whose ``annotations.csv`` lists only
``audio_filename, sensor_id`` (optionally ``split``): unlabelled sensor audio. Each is
reported with its count and first names. ``strict=True`` refuses them instead.
Duplicate rows of one (clip, annotator) are dropped when identical and refused when they
disagree.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.errors import MvlibError
from mvlib.data import taxonomy

log = logging.getLogger(__name__)

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
LABEL_SOURCES = ("volunteers", "verified")
#: Reasons a row is left out of the aggregation, with the wording used in reports.
SKIP_REASONS = {
    "team": "SONYC team rows (annotator_id < 0)",
    "verified_in_train": "verified rows of train clips (train labels come from volunteers)",
    "volunteer_in_eval": "volunteer rows of validate/test clips (labels come from the verified row)",
}
#: Why a clip has no usable label (it is kept unlabelled, or refused with ``strict``).
UNLABELLED_REASONS = {
    "no_verified": "validate/test clip(s) without a verified row (annotator_id == 0), "
    "excluded from evaluation",
    "no_volunteer": "train clip(s) without a volunteer row (annotator_id > 0)",
    "all_unlabelled": "clip(s) whose every coarse label is -1 (not labelled)",
    "no_annotations": "clip(s) listed without annotation columns (unlabelled audio)",
}
#: Columns a folder of unlabelled sensor audio needs (``split`` is optional).
MINIMAL_COLUMNS = ("audio_filename", "sensor_id")
_MAX_LISTED = 5
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


@dataclass(frozen=True)
class AggregationReport:
    """What :func:`aggregate_labels` used and what it left out, by reason.

    Attributes
    ----------
    source : str
        The annotations file (or a label for it).
    n_rows : int
        Annotation rows read.
    n_clips : int
        Clips (distinct ``audio_filename``) produced.
    clips_per_split : dict[str, int]
        Clips per split, taxonomy.SPLITS order.
    n_rows_used : int
        Rows that contributed to a label.
    skipped : dict[str, int]
        Rows left out by design, keyed by :data:`SKIP_REASONS`.
    n_verified_unlabelled : int
        -1 values in the coarse presence of used verified rows (read as 0).
    n_verified_unlabelled_clips : int
        validate/test clips with at least one such -1.
    unlabelled : dict[str, tuple[str, ...]]
        Clips kept without a usable label, by :data:`UNLABELLED_REASONS` key.
    n_duplicate_rows : int
        Identical repeated rows of one (clip, annotator), dropped.
    """

    source: str
    n_rows: int
    n_clips: int
    clips_per_split: dict[str, int] = field(default_factory=dict)
    n_rows_used: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    n_verified_unlabelled: int = 0
    n_verified_unlabelled_clips: int = 0
    unlabelled: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_duplicate_rows: int = 0

    @property
    def n_unlabelled(self) -> int:
        """Clips kept without a usable label (not in the probes' partitions)."""
        return sum(len(v) for v in self.unlabelled.values())

    def exclusions(self) -> list[str]:
        """One line per reason a clip has no usable label: count, why, the first names."""
        out = []
        for key, clips in self.unlabelled.items():
            if clips:
                names = ", ".join(clips[:_MAX_LISTED]) + (
                    " ..." if len(clips) > _MAX_LISTED else ""
                )
                out.append(f"{len(clips)} {UNLABELLED_REASONS[key]}: {names}")
        return out

    def summary(self) -> str:
        """One paragraph for the log: counts of rows, clips, skips and verified -1s."""
        splits = ", ".join(f"{s} {n}" for s, n in self.clips_per_split.items())
        skips = "; ".join(f"{self.skipped.get(k, 0)} {w}" for k, w in SKIP_REASONS.items())
        text = (
            f"{self.source}: {self.n_rows} rows, {self.n_clips} clips ({splits}); "
            f"{self.n_rows_used} rows used; skipped {sum(self.skipped.values())} rows: {skips}"
        )
        if self.n_verified_unlabelled:
            text += (
                f"; {self.n_verified_unlabelled} coarse -1 (not labelled) value(s) in the "
                f"verified rows of {self.n_verified_unlabelled_clips} clip(s), read as 0"
            )
        if self.n_duplicate_rows:
            text += f"; {self.n_duplicate_rows} identical duplicate row(s) dropped"
        if self.n_unlabelled:
            text += f"; {self.n_unlabelled} clip(s) kept unlabelled (pairing only)"
        return text


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
        choices = taxonomy.SPLITS if kind == "split" else taxonomy.PROXIMITY_VALUES
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
        return _choice_column(text, col, src, lines, taxonomy.SPLITS)
    if kind == "proximity":
        return _choice_column(text, col, src, lines, taxonomy.PROXIMITY_VALUES)
    if kind == "id":
        _raise_first(text == "", text, col, src, lines, "a non-empty identifier")
    return text.astype(str)


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


# ---------------------------------------------------------------------------------------------
# aggregation to one label per clip
# ---------------------------------------------------------------------------------------------


def aggregate_labels(
    ann: pd.DataFrame, source: str = "<annotations>", strict: bool = False
) -> tuple[pd.DataFrame, AggregationReport]:
    """Aggregate annotation rows to one 8-class coarse multi-hot label per clip (DCASE 2020).

    Parameters
    ----------
    ann : pd.DataFrame
        Output of :func:`read_annotations`.
    source : str
        Name of the annotations file for messages (default: ``ann.attrs["source"]``).
    strict : bool
        Refuse clips without usable labels (see :data:`UNLABELLED_REASONS`) instead of
        keeping them unlabelled.

    Returns
    -------
    clips : pd.DataFrame
        One row per clip sorted by ``audio_filename``: ``clip_id``, taxonomy.CLIP_COLUMNS,
        the 8 ``taxonomy.coarse_label_columns()`` as int8 0/1, ``label_source``
        ("volunteers" for train, "verified" for validate/test, "none" when unlabelled) and
        ``labelled`` (int8 1/0; an unlabelled clip's label columns are 0 and mean nothing).
    report : AggregationReport
        Row and clip counts, rows skipped by reason, verified -1 count, unlabelled clips.

    Raises
    ------
    AnnotationError
        A clip's metadata disagrees across its rows; rows of one (clip, annotator)
        disagree; with ``strict``, a clip without usable labels.
    """
    if source == "<annotations>":
        source = str(ann.attrs.get("source", source))
    ann = ann.reset_index(drop=True)
    if LINE_COLUMN not in ann.columns:
        ann = ann.assign(**{LINE_COLUMN: np.arange(len(ann)) + 2})
    ann = ann.sort_values(["audio_filename", LINE_COLUMN], kind="stable", ignore_index=True)
    if "annotator_id" not in ann.columns:
        return _unannotated_clips(ann, source, strict)
    needed = taxonomy.META_COLUMNS + taxonomy.coarse_presence_columns()
    missing = [c for c in needed if c not in ann.columns]
    assert not missing, f"{source}: annotations lack column(s) {missing}"
    _check_clip_metadata(ann, source)
    ann, n_dup = _drop_duplicate_rows(ann, source)

    aid = ann["annotator_id"].to_numpy()
    train = (ann["split"] == "train").to_numpy()
    vol_rows, ver_rows = train & (aid > 0), ~train & (aid == 0)
    skipped = {
        "team": int((aid < 0).sum()),
        "verified_in_train": int((train & (aid == 0)).sum()),
        "volunteer_in_eval": int((~train & (aid > 0)).sum()),
    }
    clips = ann.groupby("audio_filename", sort=True).head(1).set_index("audio_filename")
    unlabelled: dict[str, list[str]] = {k: [] for k in UNLABELLED_REASONS}
    labels_train = _volunteer_labels(ann, vol_rows, clips, source, strict, unlabelled)
    labels_eval, n_unl, n_unl_clips = _verified_labels(
        ann, ver_rows, clips, source, strict, unlabelled
    )
    labels = pd.concat([labels_train, labels_eval]).loc[clips.index]

    out = clips[[c for c in taxonomy.CLIP_COLUMNS if c != "audio_filename"]].copy()
    out = out.join(labels)
    out["label_source"] = np.where(out["split"] == "train", *LABEL_SOURCES)
    none = sorted(c for v in unlabelled.values() for c in v)
    out["labelled"] = np.int8(1)
    out.loc[none, "labelled"] = np.int8(0)
    out.loc[none, "label_source"] = "none"
    out = _finish_clip_table(out)

    n_used = int(vol_rows.sum() + ver_rows.sum())
    assert n_used + sum(skipped.values()) == len(ann), "every row is either used or skipped"
    report = AggregationReport(
        source=source,
        n_rows=len(ann) + n_dup,
        n_clips=len(out),
        clips_per_split={s: int((out["split"] == s).sum()) for s in taxonomy.SPLITS},
        n_rows_used=n_used,
        skipped=skipped,
        n_verified_unlabelled=n_unl,
        n_verified_unlabelled_clips=n_unl_clips,
        unlabelled={k: tuple(sorted(v)) for k, v in unlabelled.items() if v},
        n_duplicate_rows=n_dup,
    )
    return out, report


def _finish_clip_table(out: pd.DataFrame) -> pd.DataFrame:
    """Index ``audio_filename`` -> the clip table's columns in their documented order."""
    out = out.reset_index()
    out.insert(0, "clip_id", out["audio_filename"])
    cols = [*taxonomy.CLIP_COLUMNS, *taxonomy.coarse_label_columns(), "label_source", "labelled"]
    out["labelled"] = out["labelled"].astype(np.int8)
    return out[["clip_id", *cols]]


#: Values of clip columns that an unannotated folder does not give (unknown).
_UNKNOWN = {"split": "train", "borough": "", "block": "", "latitude": np.nan, "longitude": np.nan}


def _unannotated_clips(ann: pd.DataFrame, source: str, strict: bool):
    """A folder of unlabelled sensor audio (``audio_filename, sensor_id`` [, ``split``])."""
    cols = [c for c in taxonomy.CLIP_COLUMNS if c in ann.columns and c != "audio_filename"]
    _check_clip_metadata(ann, source, cols)
    names = sorted(ann["audio_filename"].unique())
    if strict:
        raise AnnotationError(
            source,
            f"no annotation columns: all {len(names)} clips are unlabelled (data.strict is true)",
            "set data.strict: false to use unlabelled audio for pairing, or give the "
            "SONYC-UST-V2 annotation columns",
        )
    clips = ann.groupby("audio_filename", sort=True).head(1).set_index("audio_filename")
    out = pd.DataFrame(index=clips.index)
    for c in taxonomy.CLIP_COLUMNS:
        if c == "audio_filename":
            continue
        if c in clips.columns:
            out[c] = clips[c]
        else:
            out[c] = _UNKNOWN.get(c, -1)  # time columns: -1, unknown
    for c in taxonomy.coarse_label_columns():
        out[c] = np.int8(0)
    out["label_source"] = "none"
    out["labelled"] = np.int8(0)
    out = _finish_clip_table(out)
    report = AggregationReport(
        source=source,
        n_rows=len(ann),
        n_clips=len(out),
        clips_per_split={s: int((out["split"] == s).sum()) for s in taxonomy.SPLITS},
        skipped={},
        unlabelled={"no_annotations": tuple(names)},
    )
    return out, report


def _drop_duplicate_rows(ann: pd.DataFrame, source: str) -> tuple[pd.DataFrame, int]:
    """Drop identical repeats of one (clip, annotator); refuse repeats that disagree."""
    key = ["audio_filename", "annotator_id"]
    dup = ann.duplicated(key, keep=False).to_numpy()
    if not dup.any():
        return ann, 0
    content = [c for c in ann.columns if c != LINE_COLUMN]
    same = ann.duplicated(content, keep="first").to_numpy()  # exact repeat of an earlier row
    rest = ann.loc[~same]
    conflict = rest.duplicated(key, keep=False).to_numpy()
    if conflict.any():
        bad = rest.loc[conflict]
        clip, annot = bad.iloc[0]["audio_filename"], int(bad.iloc[0]["annotator_id"])
        rows = bad[(bad["audio_filename"] == clip) & (bad["annotator_id"] == annot)]
        a, b = rows.iloc[0], rows.iloc[1]
        diff = [c for c in content if not (a[c] == b[c] or (pd.isna(a[c]) and pd.isna(b[c])))]
        n_pairs = bad.groupby(key).ngroups
        who = "the verified row (annotator_id 0)" if annot == 0 else f"annotator {annot}"
        raise AnnotationError(
            source,
            f"line {a[LINE_COLUMN]} and line {b[LINE_COLUMN]} are both {who} of clip "
            f"'{clip}' but disagree in {diff[:3]}"
            + (" ..." if len(diff) > 3 else "")
            + f" ({n_pairs} (clip, annotator) pair(s) with conflicting rows); "
            "expected one row per clip and annotator",
            "keep one of the rows (mvlib never merges conflicting annotations)",
        )
    return rest.reset_index(drop=True), int(same.sum())


def _check_clip_metadata(ann: pd.DataFrame, source: str, cols: list | None = None) -> None:
    """Every row of one clip must agree on split, sensor, location and time."""
    if cols is None:
        cols = [c for c in taxonomy.CLIP_COLUMNS if c != "audio_filename"]
    nun = ann.groupby("audio_filename", sort=True)[cols].nunique(dropna=False)
    bad = nun > 1
    if not bad.to_numpy().any():
        return
    n_bad = int(bad.any(axis=1).sum())
    clip = bad.any(axis=1).idxmax()
    col = bad.loc[clip].idxmax()
    rows = ann[ann["audio_filename"] == clip]
    first = rows.iloc[0]
    same = rows[col].eq(first[col]) | (rows[col].isna() & pd.isna(first[col]))
    other = rows[~same].iloc[0]
    v0, v1 = (v.item() if isinstance(v, np.generic) else v for v in (first[col], other[col]))
    raise AnnotationError(
        f"{source}: clip '{clip}', column '{col}': line {first[LINE_COLUMN]} has "
        f"{v0!r} but line {other[LINE_COLUMN]} has {v1!r}; expected one value "
        f"per clip ({n_bad} clip(s) with inconsistent metadata)"
    )


def _clip_error(ann, clips_bad, source, what, rule) -> AnnotationError:
    """Error for clips lacking the rows a split needs; names the first clip and its lines."""
    clip = clips_bad[0]
    lines = ann.loc[ann["audio_filename"] == clip, LINE_COLUMN].tolist()
    listed = ", ".join(repr(c) for c in clips_bad[:_MAX_LISTED])
    return AnnotationError(
        source,
        f"line {lines[0]}, column 'annotator_id': clip '{clip}' "
        f"(lines {lines}) {what} ({rule}); {len(clips_bad)} clip(s) affected: {listed}"
        + (" ..." if len(clips_bad) > _MAX_LISTED else ""),
        "data.strict is true: set it to false to keep such clips as unlabelled views "
        "(pairing only), or add the missing rows",
    )


def _volunteer_labels(ann, vol_rows, clips, source, strict, unlabelled) -> pd.DataFrame:
    """Train labels: class present if any volunteer row has 1 (-1 is not a vote).

    A train clip without a volunteer row, or whose volunteer rows are all -1, is
    unlabelled (recorded in ``unlabelled``; refused when ``strict``).
    """
    train_clips = clips.index[clips["split"] == "train"]
    cols = list(taxonomy.coarse_presence_columns())
    vals = ann.loc[vol_rows, cols]
    by_clip = ann.loc[vol_rows, "audio_filename"]
    pres = vals == 1
    pres.columns = list(taxonomy.coarse_label_columns())
    labels = pres.groupby(by_clip).any()
    voted = (vals != -1).any(axis=1).groupby(by_clip).any()
    lacking = list(train_clips.difference(labels.index))
    blank = sorted(c for c in voted.index[~voted.to_numpy()] if c in set(train_clips))
    if strict and lacking:
        raise _clip_error(
            ann,
            lacking,
            source,
            "is a train clip without any volunteer row (annotator_id > 0)",
            "the DCASE-2020 baseline labels train clips from volunteer rows only",
        )
    if strict and blank:
        what = "is a train clip whose every volunteer value is -1 (not labelled)"
        raise _clip_error(ann, blank, source, what, "-1 is not a vote")
    unlabelled["no_volunteer"] += lacking
    unlabelled["all_unlabelled"] += blank
    labels = labels.reindex(train_clips, fill_value=False)
    return labels.astype(np.int8)


def _verified_labels(ann, ver_rows, clips, source, strict, unlabelled):
    """validate/test labels: the single verified row, -1 read as 0 (and counted).

    A validate/test clip without a verified row is excluded from evaluation (unlabelled),
    as the DCASE-2020 baseline does, and so is one whose verified row is all -1; both are
    refused when ``strict``. Returns labels, the -1 count and the clips with a -1.
    """
    eval_clips = clips.index[clips["split"] != "train"]
    ver = ann.loc[ver_rows]
    counts = ver["audio_filename"].value_counts()
    rule = "the DCASE-2020 baseline labels validate/test clips from the annotator_id == 0 row"
    lacking = list(eval_clips.difference(counts.index))
    if strict and lacking:
        what = "is a validate/test clip without a verified row (annotator_id == 0)"
        raise _clip_error(ann, lacking, source, what, rule)
    multiple = counts.index[counts > 1]
    if len(multiple):  # duplicates are dropped or refused before: cannot happen
        what = "has more than one verified row (annotator_id == 0), expected exactly one"
        raise _clip_error(ann, sorted(multiple), source, what, rule)
    pres = ver.set_index("audio_filename")[list(taxonomy.coarse_presence_columns())]
    blank = sorted(pres.index[(pres == -1).all(axis=1).to_numpy()])
    if strict and blank:
        what = "is a validate/test clip whose verified row is -1 (not labelled) everywhere"
        raise _clip_error(ann, blank, source, what, rule)
    unlabelled["no_verified"] += lacking
    unlabelled["all_unlabelled"] += blank
    used = pres.drop(index=blank)
    n_unl = (used == -1).to_numpy()
    labels = (pres == 1).astype(np.int8)
    labels.columns = list(taxonomy.coarse_label_columns())
    labels = labels.reindex(eval_clips, fill_value=0)
    return labels, int(n_unl.sum()), int(n_unl.any(axis=1).sum())


# ---------------------------------------------------------------------------------------------
# dataset folders and arrays
# ---------------------------------------------------------------------------------------------


def load_clips(
    root: str | os.PathLike, check_audio: bool = True, strict: bool = False
) -> pd.DataFrame:
    """Read ``<root>/annotations.csv``, aggregate the labels and locate the audio.

    Parameters
    ----------
    root : str or PathLike
        Dataset folder with ``annotations.csv`` and ``audio/``.
    check_audio : bool
        Require every clip's ``audio/<audio_filename>`` to exist.
    strict : bool
        Refuse clips without usable labels instead of keeping them unlabelled
        (``data.strict``).

    Returns
    -------
    pd.DataFrame
        :func:`aggregate_labels` output plus ``audio_path`` (absolute str).

    Raises
    ------
    AnnotationError
        Any error of :func:`read_annotations` / :func:`aggregate_labels`, or a missing
        audio file (names the first clip's line and path, and how many are missing).
    """
    return load_clips_report(root, check_audio, strict)[0]


def load_clips_report(
    root: str | os.PathLike, check_audio: bool = True, strict: bool = False
) -> tuple[pd.DataFrame, AggregationReport]:
    """:func:`load_clips` and its :class:`AggregationReport` (what was left out and why)."""
    root = Path(root).expanduser().resolve()
    csv_path = root / "annotations.csv"
    ann = read_annotations(csv_path)
    clips, report = aggregate_labels(ann, source=str(csv_path), strict=strict)
    log.info(report.summary())
    if report.n_verified_unlabelled:
        log.warning(
            "%s: %d coarse -1 (not labelled) value(s) in verified rows read as 0",
            csv_path,
            report.n_verified_unlabelled,
        )
    for line in report.exclusions():
        log.warning("%s: kept unlabelled (pairing only, not probed): %s", csv_path, line)
    audio_dir = root / "audio"
    clips["audio_path"] = [str(audio_dir / f) for f in clips["audio_filename"]]
    if check_audio:
        _check_audio(clips, ann, csv_path)
    return clips, report


def _check_audio(clips: pd.DataFrame, ann: pd.DataFrame, csv_path: Path) -> None:
    missing = [i for i, p in enumerate(clips["audio_path"]) if not os.path.isfile(p)]
    if not missing:
        return
    first_lines = ann.groupby("audio_filename")[LINE_COLUMN].min()
    clip = clips.iloc[missing[0]]
    listed = ", ".join(clips["audio_path"].iloc[missing[:_MAX_LISTED]])
    raise AnnotationError(
        f"{csv_path}: line {first_lines[clip['audio_filename']]}, column 'audio_filename': "
        f"value {clip['audio_filename']!r}, expected an audio file at {clip['audio_path']} "
        f"(not found). {len(missing)} of {len(clips)} audio files are missing: {listed}"
        + (" ..." if len(missing) > _MAX_LISTED else "")
    )


def label_matrix(clips: pd.DataFrame) -> np.ndarray:
    """The coarse labels as ``uint8[N x 8]`` (taxonomy order) from :func:`aggregate_labels` output."""
    cols = list(taxonomy.coarse_label_columns())
    missing = [c for c in cols if c not in clips.columns]
    assert not missing, f"clips lack label column(s) {missing}"
    y = clips[cols].to_numpy()
    assert np.isin(y, (0, 1)).all(), "labels must be 0/1"
    return y.astype(np.uint8)  # (N, 8)


def sensor_codes(
    clips: pd.DataFrame, sensors: list[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Map ``sensor_id`` to integer codes 0..S-1.

    Parameters
    ----------
    clips : pd.DataFrame
        Has a ``sensor_id`` column.
    sensors : list of str, optional
        The code order. Default: the clips' sensors, sorted numerically when every id
        is an integer, else as strings.

    Returns
    -------
    codes : np.ndarray
        ``int64[N]``, the index of each clip's sensor in ``sensors``.
    sensors : list of str
        The sensor of each code.
    """
    ids = clips["sensor_id"].astype(str).to_numpy()
    if sensors is None:
        uniq = sorted(set(ids))
        numeric = all(s.lstrip("-").isdigit() for s in uniq)
        sensors = sorted(uniq, key=int) if numeric else uniq
    sensors = [str(s) for s in sensors]
    if len(set(sensors)) != len(sensors):
        raise ValueError(f"sensor list has duplicates: {sensors}")
    index = {s: i for i, s in enumerate(sensors)}
    unknown = sorted(set(ids) - set(index))
    if unknown:
        raise ValueError(f"sensor_id(s) {unknown} not in the given sensor list {sensors}")
    return np.array([index[s] for s in ids], dtype=np.int64), sensors
