"""Tests for mvlib.data.sonyc: SONYC-UST-V2 annotation reading and DCASE-2020 label aggregation.

The fixture ``fixtures/sonyc_small/annotations.csv`` is a hand-written file in the real
schema (all 78 columns). Its rows, by line (header = line 1):

==== ========== ============= ======= ======================= ==============================
line split      clip          annot.  coarse presence 1..8    note
==== ========== ============= ======= ======================= ==============================
2    validate   02_000004.wav  101    1  1  1  1  1  1  1  1  volunteer of a validate clip
3    validate   02_000004.wav   -2    1  0  0  1  0  0  1  0  team
4    validate   02_000004.wav    0    0  0  0  1  0  0  1  0  verified
5    train      00_000001.wav  101    1  0 -1  0  0  0  1  0
6    train      00_000001.wav  102    0  0  0  0  1  0 -1  0
7    train      00_000001.wav   -5    0  0  0  0  0  0  0  1  team
8    train      00_000001.wav  103   -1 -1 -1 -1 -1 -1 -1 -1  labelled nothing
9    train      00_000001.wav    0    0  1  0  0  0  0  0  0  verified row of a train clip
10   train      01_000003.wav  105    0  0  0  0  0  1  0  1
11   train      01_000003.wav  106    0  0  1  0  0  0  0  0
12   test       03_000005.wav    0    1  0 -1  0  0  0  0  1  verified with a -1
13   test       03_000005.wav  107    0  0  0  0  0  0  0  0  volunteer of a test clip
14   train      00_000002.wav  104    0  0  0  0  0  0  0  0
15   train      00_000002.wav  101    0  0  0  0  0  0  0 -1
==== ========== ============= ======= ======================= ==============================
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mvlib.data import taxonomy
from mvlib.data.aggregate import AggregationReport, aggregate_labels
from mvlib.data.annotations import AnnotationError, read_annotations
from mvlib.data.labels import label_matrix
from mvlib.data.sonyc import load_clips

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sonyc_small" / "annotations.csv"

# Worked out by hand from the table above.
#   00_000001 train: union of volunteers 101, 102, 103 -> engine (101), alert (102), voice (101);
#     the -1s of 101/102/103 are not votes; the team dog (line 7) and the verified
#     machinery-impact (line 9) are ignored.
#   00_000002 train: all zeros; volunteer 101's dog -1 is "not labelled", not a positive.
#   01_000003 train: 105 -> music, dog; 106 -> non-machinery impact.
#   02_000004 validate: verified row (line 4) only -> powered saw, human voice; the all-ones
#     volunteer (line 2) and the team row (line 3) are ignored.
#   03_000005 test: verified row (line 12) -> engine, dog; its -1 (non-machinery) reads as 0.
EXPECTED = {
    "00_000001.wav": ("train", "7", [1, 0, 0, 0, 1, 0, 1, 0], "volunteers"),
    "00_000002.wav": ("train", "12", [0, 0, 0, 0, 0, 0, 0, 0], "volunteers"),
    "01_000003.wav": ("train", "12", [0, 0, 1, 0, 0, 1, 0, 1], "volunteers"),
    "02_000004.wav": ("validate", "30", [0, 0, 0, 1, 0, 0, 1, 0], "verified"),
    "03_000005.wav": ("test", "41", [1, 0, 0, 0, 0, 0, 0, 1], "verified"),
}


def _fixture_text() -> str:
    return FIXTURE.read_text()


def _edit(text: str, line: int, column: str, value: str) -> str:
    """Set one cell (1-based line, header = line 1) of a quote-free CSV text."""
    rows = text.splitlines()
    col = rows[0].split(",").index(column)
    fields = rows[line - 1].split(",")
    fields[col] = value
    rows[line - 1] = ",".join(fields)
    return "\n".join(rows) + "\n"


def _drop(text: str, column: str) -> str:
    """Remove one column from a quote-free CSV text."""
    rows = [r.split(",") for r in text.splitlines()]
    col = rows[0].index(column)
    return "\n".join(",".join(r[:col] + r[col + 1 :]) for r in rows) + "\n"


def _dataset(tmp_path: Path, text: str | None = None, audio: bool = True) -> Path:
    """A dataset folder with the (edited) annotations and empty audio files for its clips."""
    root = tmp_path / "ds"
    (root / "audio").mkdir(parents=True)
    if text is None:
        shutil.copy(FIXTURE, root / "annotations.csv")
    else:
        (root / "annotations.csv").write_text(text)
    if audio:
        for name in EXPECTED:
            (root / "audio" / name).write_bytes(b"")
    return root


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "annotations.csv"
    path.write_text(text)
    return path


def _assert_names(msg: str, path: Path, line: int, column: str) -> None:
    assert str(path) in msg, msg
    assert f"line {line}" in msg, msg
    assert f"'{column}'" in msg, msg


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def test_fixture_header_is_the_real_schema():
    assert _fixture_text().splitlines()[0].split(",") == list(taxonomy.annotation_columns())


def test_read_annotations_dtypes_and_lines():
    ann = read_annotations(FIXTURE)
    assert len(ann) == 14
    assert ann["csv_line"].tolist() == list(range(2, 16))
    for col in taxonomy.coarse_presence_columns() + tuple(p for p, _ in taxonomy.fine_columns()):
        assert ann[col].dtype == np.int8, col
    assert ann["annotator_id"].dtype == np.int64
    assert ann["annotator_id"].tolist()[:4] == [101, -2, 0, 101]
    # sensor ids stay identifiers: "7" is not 7 and "012" would not become 12
    assert ann["sensor_id"].tolist()[:4] == ["30", "30", "30", "7"]
    for col in ("year", "week", "day", "hour"):
        assert ann[col].dtype == np.int64, col
    assert ann.loc[0, ["year", "week", "day", "hour"]].tolist() == [2019, 41, 2, 17]
    assert ann["latitude"].dtype == np.float64 and ann.loc[0, "latitude"] == 40.73103
    # line 8: volunteer 103 labelled nothing, so every presence is -1
    assert (ann.loc[6, list(taxonomy.coarse_presence_columns())] == -1).all()
    assert ann.loc[1, "1-3_large-sounding-engine_proximity"] == "near"
    assert ann.attrs["source"] == str(FIXTURE)


def test_read_skips_blank_lines_but_keeps_true_line_numbers(tmp_path):
    rows = _fixture_text().splitlines()
    text = "\n".join(rows[:3] + [""] + rows[3:]) + "\n"
    ann = read_annotations(_write(tmp_path, text))
    assert len(ann) == 14
    assert ann["csv_line"].tolist() == [2, 3] + list(range(5, 17))


def test_fine_columns_are_optional(tmp_path):
    text = _drop(_fixture_text(), "2-2_jackhammer_presence")
    text = _drop(text, "8-1_dog-barking-whining_proximity")
    ann = read_annotations(_write(tmp_path, text))
    assert "2-2_jackhammer_presence" not in ann.columns
    clips, _ = aggregate_labels(ann)
    assert label_matrix(clips).tolist() == [v[2] for v in EXPECTED.values()]


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------


def test_aggregate_labels_hand_worked():
    clips, _ = aggregate_labels(read_annotations(FIXTURE))
    assert list(clips.columns) == [
        "clip_id",
        *taxonomy.CLIP_COLUMNS,
        *taxonomy.coarse_label_columns(),
        "label_source",
        "labelled",
    ]
    assert (clips["labelled"] == 1).all()
    assert clips["clip_id"].tolist() == sorted(EXPECTED)
    assert (clips["clip_id"] == clips["audio_filename"]).all()
    for _, row in clips.iterrows():
        split, sensor, labels, source = EXPECTED[row["clip_id"]]
        assert row["split"] == split
        assert row["sensor_id"] == sensor
        assert row[list(taxonomy.coarse_label_columns())].tolist() == labels, row["clip_id"]
        assert row["label_source"] == source
    for col in taxonomy.coarse_label_columns():
        assert clips[col].dtype == np.int8
    c4 = clips.set_index("clip_id").loc["02_000004.wav"]
    assert c4[["borough", "block", "year", "week", "day", "hour"]].tolist() == [
        "1",
        "1210",
        2019,
        41,
        2,
        17,
    ]
    assert c4["longitude"] == -74.00049


def test_report_counts_every_skipped_row():
    _, report = aggregate_labels(read_annotations(FIXTURE), source="fixture.csv")
    assert isinstance(report, AggregationReport)
    assert report.n_rows == 14
    assert report.n_clips == 5
    assert report.clips_per_dataset_split == {"train": 3, "validate": 1, "test": 1}
    # team: lines 3, 7; verified of train: line 9; volunteers of eval clips: lines 2, 13
    assert report.skipped == {"team": 2, "verified_in_train": 1, "volunteer_in_eval": 2}
    # train volunteer rows 5, 6, 8, 10, 11, 14, 15 + verified rows 4, 12
    assert report.n_rows_used == 9
    assert report.n_verified_unlabelled == 1
    assert report.n_verified_unlabelled_clips == 1
    text = report.summary()
    assert "fixture.csv" in text and "14 rows" in text and "5 clips" in text
    assert "2 SONYC team rows" in text and "1 verified rows of train" in text
    assert "2 volunteer rows of validate/test" in text and "1 coarse -1" in text
    with pytest.raises(AttributeError):
        report.n_rows = 3  # frozen


def test_report_counts_verified_unlabelled_cells(tmp_path):
    # a second -1 in the verified row of the validate clip (line 4, engine)
    text = _edit(_fixture_text(), 4, "1_engine_presence", "-1")
    clips, report = aggregate_labels(read_annotations(_write(tmp_path, text)))
    assert report.n_verified_unlabelled == 2
    assert report.n_verified_unlabelled_clips == 2
    row = clips.set_index("clip_id").loc["02_000004.wav"]
    assert row["1_engine"] == 0


def test_aggregation_ignores_row_order():
    ann = read_annotations(FIXTURE)
    shuffled = ann.sample(frac=1.0, random_state=3)
    a, ra = aggregate_labels(ann)
    b, rb = aggregate_labels(shuffled)
    pd.testing.assert_frame_equal(a, b)
    assert ra == rb


def test_a_single_volunteer_positive_is_enough(tmp_path):
    # volunteer 104 (line 14) marks a car horn on the all-zero clip 00_000002
    text = _edit(_fixture_text(), 14, "5_alert-signal_presence", "1")
    clips, _ = aggregate_labels(read_annotations(_write(tmp_path, text)))
    row = clips.set_index("clip_id").loc["00_000002.wav"]
    assert row[list(taxonomy.coarse_label_columns())].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]


# ---------------------------------------------------------------------------------------------
# load_clips, label_matrix
# ---------------------------------------------------------------------------------------------


def test_load_clips_paths_and_log(tmp_path, caplog):
    root = _dataset(tmp_path)
    with caplog.at_level(logging.INFO, logger="mvlib.data.sonyc"):
        clips = load_clips(root)
    assert "14 rows, 5 clips" in caplog.text
    for path, name in zip(clips["audio_path"], clips["audio_filename"]):
        assert Path(path).is_absolute() and Path(path).is_file()
        assert Path(path) == (root / "audio" / name).resolve()
    y = label_matrix(clips)
    assert y.dtype == np.int64 and y.shape == (5, 8)
    assert y.tolist() == [EXPECTED[c][2] for c in sorted(EXPECTED)]


def test_load_clips_without_audio_check(tmp_path):
    root = _dataset(tmp_path, audio=False)
    clips = load_clips(root, check_audio=False)
    assert len(clips) == 5 and not Path(clips["audio_path"].iloc[0]).exists()


# ---------------------------------------------------------------------------------------------
# errors: each names file, line and column
# ---------------------------------------------------------------------------------------------


def test_missing_required_column(tmp_path):
    path = _write(tmp_path, _drop(_fixture_text(), "3_non-machinery-impact_presence"))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 1, "3_non-machinery-impact_presence")


def test_missing_meta_column(tmp_path):
    path = _write(tmp_path, _drop(_fixture_text(), "sensor_id"))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 1, "sensor_id")


def test_unknown_split(tmp_path):
    path = _write(tmp_path, _edit(_fixture_text(), 10, "split", "training"))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 10, "split")
    assert "'training'" in str(err.value)


@pytest.mark.parametrize("value", ["yes", "0.5", "", "2", "-2", "nan"])
def test_bad_coarse_presence(tmp_path, value):
    path = _write(tmp_path, _edit(_fixture_text(), 7, "6_music_presence", value))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 7, "6_music_presence")
    assert f"value {value!r}" in str(err.value)
    assert "1, 0 or -1" in str(err.value)


def test_bad_fine_presence_and_proximity(tmp_path):
    path = _write(tmp_path, _edit(_fixture_text(), 12, "5-2_car-alarm_presence", "3"))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 12, "5-2_car-alarm_presence")
    path = _write(
        tmp_path, _edit(_fixture_text(), 5, "1-2_medium-sounding-engine_proximity", "close")
    )
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 5, "1-2_medium-sounding-engine_proximity")
    assert "'close'" in str(err.value)


@pytest.mark.parametrize("value", ["abc", "1.5", ""])
def test_bad_annotator_id(tmp_path, value):
    path = _write(tmp_path, _edit(_fixture_text(), 9, "annotator_id", value))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 9, "annotator_id")


@pytest.mark.parametrize("column,value", [("hour", "24"), ("day", "Mon"), ("latitude", "north")])
def test_bad_time_and_location(tmp_path, column, value):
    path = _write(tmp_path, _edit(_fixture_text(), 11, column, value))
    with pytest.raises(AnnotationError) as err:
        read_annotations(path)
    _assert_names(str(err.value), path, 11, column)


def test_wrong_field_count(tmp_path):
    rows = _fixture_text().splitlines()
    rows[5] += ",extra"
    path = _write(tmp_path, "\n".join(rows) + "\n")
    with pytest.raises(AnnotationError, match="line 6: 79 fields, expected 78") as err:
        read_annotations(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "column,value,shown",
    [("sensor_id", "8", "'8'"), ("hour", "15", "15"), ("split", "test", "'test'")],
)
def test_inconsistent_clip_metadata(tmp_path, column, value, shown):
    # line 8 is the 4th row of clip 00_000001 (lines 5-9)
    path = _write(tmp_path, _edit(_fixture_text(), 8, column, value))
    with pytest.raises(AnnotationError) as err:
        aggregate_labels(read_annotations(path))
    msg = str(err.value)
    _assert_names(msg, path, 5, column)
    assert f"line 8 has {shown}" in msg and "'00_000001.wav'" in msg


def test_validate_clip_without_verified_row(tmp_path):
    # the verified row of 02_000004 (line 4) becomes a volunteer row
    path = _write(tmp_path, _edit(_fixture_text(), 4, "annotator_id", "55"))
    with pytest.raises(AnnotationError) as err:
        aggregate_labels(read_annotations(path), strict=True)
    msg = str(err.value)
    _assert_names(msg, path, 2, "annotator_id")
    assert "'02_000004.wav'" in msg and "DCASE" in msg and "annotator_id == 0" in msg


def test_eval_clip_with_two_verified_rows(tmp_path):
    path = _write(tmp_path, _edit(_fixture_text(), 13, "annotator_id", "0"))
    with pytest.raises(AnnotationError, match="both the verified row") as err:
        aggregate_labels(read_annotations(path))
    assert err.value.culprit == str(path) and "line 12 and line 13" in err.value.what


def test_train_clip_without_volunteer_row(tmp_path):
    text = _edit(_edit(_fixture_text(), 14, "annotator_id", "-1"), 15, "annotator_id", "0")
    path = _write(tmp_path, text)
    with pytest.raises(AnnotationError) as err:
        aggregate_labels(read_annotations(path), strict=True)
    msg = str(err.value)
    _assert_names(msg, path, 14, "annotator_id")
    assert "'00_000002.wav'" in msg and "volunteer" in msg


def test_missing_audio_files(tmp_path):
    root = _dataset(tmp_path)
    (root / "audio" / "01_000003.wav").unlink()
    (root / "audio" / "03_000005.wav").unlink()
    with pytest.raises(AnnotationError) as err:
        load_clips(root)
    msg = str(err.value)
    # first missing clip in sorted order is 01_000003, whose first row is line 10
    _assert_names(msg, (root / "annotations.csv").resolve(), 10, "audio_filename")
    assert str((root / "audio" / "01_000003.wav").resolve()) in msg
    assert "2 of 5 audio files are missing" in msg and "03_000005.wav" in msg


def test_missing_annotations_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations.csv"):
        load_clips(tmp_path)


def test_cells_with_spaces_or_1_0_read_as_the_clean_cells(tmp_path):
    """The clean-cell fast path and the general path (strip, numeric) give one table."""
    clean = read_annotations(FIXTURE)
    text = _fixture_text()
    text = _edit(text, 2, "1_engine_presence", " 1 ")
    text = _edit(text, 3, "2_machinery-impact_presence", "0.0")
    text = _edit(text, 4, "split", " validate")
    prox = next(c for c in clean.columns if c.endswith("_proximity"))
    text = _edit(text, 5, prox, clean[prox].iloc[3] + " ")
    messy = read_annotations(_write(tmp_path, text))
    pd.testing.assert_frame_equal(messy, clean)
    bad = _edit(_fixture_text(), 2, "1_engine_presence", "2")
    with pytest.raises(AnnotationError, match="line 2, column '1_engine_presence': value '2'"):
        read_annotations(_write(tmp_path, bad))
