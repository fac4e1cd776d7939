"""Aggregating annotation rows to one coarse label per clip, as the DCASE-2020 baseline does.

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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mvlib.data import taxonomy
from mvlib.data.annotations import LINE_COLUMN, MAX_LISTED, AnnotationError

LABEL_SOURCES = ("volunteers", "verified")
#: Reasons a row is left out of the aggregation, with the wording used in reports.
SKIP_REASONS = {
    "team": "SONYC team rows (annotator_id < 0)",
    "verified_in_train": "verified rows of train clips (train labels come from volunteers)",
    "volunteer_in_eval": (
        "volunteer rows of validate/test clips (labels come from the verified row)"
    ),
}
#: Why a clip has no usable label (it is kept unlabelled, or refused with ``strict``).
UNLABELLED_REASONS = {
    "no_verified": "validate/test clip(s) without a verified row (annotator_id == 0), "
    "excluded from evaluation",
    "no_volunteer": "train clip(s) without a volunteer row (annotator_id > 0)",
    "all_unlabelled": "clip(s) whose every coarse label is -1 (not labelled)",
    "no_annotations": "clip(s) listed without annotation columns (unlabelled audio)",
}


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
    clips_per_dataset_split : dict[str, int]
        Clips per dataset split (the ``split`` column), taxonomy.DATASET_SPLITS order.
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
    clips_per_dataset_split: dict[str, int] = field(default_factory=dict)
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
                names = ", ".join(clips[:MAX_LISTED]) + (" ..." if len(clips) > MAX_LISTED else "")
                out.append(f"{len(clips)} {UNLABELLED_REASONS[key]}: {names}")
        return out

    def summary(self) -> str:
        """One paragraph for the log: counts of rows, clips, skips and verified -1s."""
        splits = ", ".join(f"{s} {n}" for s, n in self.clips_per_dataset_split.items())
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
    ann = _sorted_rows(ann)
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
    out = _labelled_clip_table(clips, labels, unlabelled)

    n_used = int(vol_rows.sum() + ver_rows.sum())
    assert n_used + sum(skipped.values()) == len(ann), "every row is either used or skipped"
    report = AggregationReport(
        source=source,
        n_rows=len(ann) + n_dup,
        n_clips=len(out),
        clips_per_dataset_split={
            s: int((out["split"] == s).sum()) for s in taxonomy.DATASET_SPLITS
        },
        n_rows_used=n_used,
        skipped=skipped,
        n_verified_unlabelled=n_unl,
        n_verified_unlabelled_clips=n_unl_clips,
        unlabelled={k: tuple(sorted(v)) for k, v in unlabelled.items() if v},
        n_duplicate_rows=n_dup,
    )
    return out, report


def _sorted_rows(ann: pd.DataFrame) -> pd.DataFrame:
    """Rows with a file line number (added when absent), sorted by clip, then line."""
    ann = ann.reset_index(drop=True)
    if LINE_COLUMN not in ann.columns:
        ann = ann.assign(**{LINE_COLUMN: np.arange(len(ann)) + 2})
    return ann.sort_values(["audio_filename", LINE_COLUMN], kind="stable", ignore_index=True)


def _labelled_clip_table(
    clips: pd.DataFrame, labels: pd.DataFrame, unlabelled: dict[str, list[str]]
) -> pd.DataFrame:
    """The clip table: metadata, labels, ``label_source`` and ``labelled`` (0: unlabelled)."""
    out = clips[[c for c in taxonomy.CLIP_COLUMNS if c != "audio_filename"]].copy()
    out = out.join(labels)
    out["label_source"] = np.where(out["split"] == "train", *LABEL_SOURCES)
    none = sorted(c for v in unlabelled.values() for c in v)
    out["labelled"] = np.int8(1)
    out.loc[none, "labelled"] = np.int8(0)
    out.loc[none, "label_source"] = "none"
    return _finish_clip_table(out)


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
        clips_per_dataset_split={
            s: int((out["split"] == s).sum()) for s in taxonomy.DATASET_SPLITS
        },
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
    listed = ", ".join(repr(c) for c in clips_bad[:MAX_LISTED])
    return AnnotationError(
        source,
        f"line {lines[0]}, column 'annotator_id': clip '{clip}' "
        f"(lines {lines}) {what} ({rule}); {len(clips_bad)} clip(s) affected: {listed}"
        + (" ..." if len(clips_bad) > MAX_LISTED else ""),
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
