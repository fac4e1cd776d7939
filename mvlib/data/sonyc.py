"""A SONYC-UST-V2 dataset folder: its clip table, with labels and audio paths.

A dataset folder holds ``annotations.csv`` and ``audio/<audio_filename>``; the
real SONYC-UST-V2 release and our synthetic sets share this layout, so the same
loader reads both: :func:`load_clips` reads the annotations
(:mod:`mvlib.data.annotations`), aggregates them to one coarse label per clip as the
DCASE-2020 baseline does (:mod:`mvlib.data.aggregate`) and locates each clip's audio.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from mvlib.data.aggregate import AggregationReport, aggregate_labels
from mvlib.data.annotations import LINE_COLUMN, MAX_LISTED, AnnotationError, read_annotations

__all__ = ["load_clips", "load_clips_report"]

log = logging.getLogger(__name__)


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
    listed = ", ".join(clips["audio_path"].iloc[missing[:MAX_LISTED]])
    raise AnnotationError(
        f"{csv_path}: line {first_lines[clip['audio_filename']]}, column 'audio_filename': "
        f"value {clip['audio_filename']!r}, expected an audio file at {clip['audio_path']} "
        f"(not found). {len(missing)} of {len(clips)} audio files are missing: {listed}"
        + (" ..." if len(missing) > MAX_LISTED else "")
    )
