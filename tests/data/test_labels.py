"""Tests of mvlib.data.labels (and the loader, mvlib.data.sonyc).

The label matrix of each task, DCASE-2020 labels, unlabelled clips as views, `mvlib labels`.
"""

import csv

import numpy as np
import pandas as pd
import pytest
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib.cli import main
from mvlib.core import config
from mvlib.data import sonyc, taxonomy
from mvlib.data.aggregate import aggregate_labels
from mvlib.data.annotations import AnnotationError, read_annotations
from mvlib.data.labels import COLUMNS, label_matrix
from mvlib.data.splits.leakage import LeakageError, check_leakage
from mvlib.data.splits.make import make_splits
from mvlib.data.splits.partition import downstream_partition


def _rows(root):
    with open(root / "annotations.csv", newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


def _save(root, header, rows):
    with open(root / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def ds(tmp_path):
    """6 sensors x 4 clips: train 100-102, validate 103, test 104-105; edited per test."""
    return write_foreign_sonyc(tmp_path / "ds", n_sensors=6, clips_per_sensor=4, seed=3)


def _drop_verified(root, clip):
    header, rows = _rows(root)
    _save(
        root,
        header,
        [r for r in rows if not (r["audio_filename"] == clip and r["annotator_id"] == "0")],
    )


def test_eval_clip_without_verified_row_is_excluded_and_reported(ds, caplog):
    _drop_verified(ds, "03_000001.wav")
    _drop_verified(ds, "04_000002.wav")
    clips, report = sonyc.load_clips_report(ds)
    assert len(clips) == 24  # kept as views
    row = clips.set_index("clip_id").loc["03_000001.wav"]
    assert row["labelled"] == 0 and row["label_source"] == "none"
    assert row[list(taxonomy.coarse_label_columns())].sum() == 0
    assert report.unlabelled == {"no_verified": ("03_000001.wav", "04_000002.wav")}
    assert report.n_unlabelled == 2
    (line,) = report.exclusions()
    assert line.startswith("2 validate/test clip(s) without a verified row")
    assert "03_000001.wav, 04_000002.wav" in line
    with pytest.raises(AnnotationError, match="without a verified row") as e:
        sonyc.load_clips(ds, strict=True)
    assert "data.strict" in e.value.fix


def test_train_clip_without_volunteers_and_all_minus_one_clips_are_unlabelled(ds):
    header, rows = _rows(ds)
    coarse = taxonomy.coarse_presence_columns()
    out = []
    for r in rows:
        if r["audio_filename"] == "00_000000.wav":
            r = {**r, "annotator_id": str(-int(r["annotator_id"]))}  # team rows only
        if r["audio_filename"] in ("01_000001.wav", "05_000003.wav"):
            r = {**r, **{c: "-1" for c in coarse}}  # every coarse label -1
        out.append(r)
    _save(ds, header, out)
    clips, report = sonyc.load_clips_report(ds)
    assert report.unlabelled == {
        "no_volunteer": ("00_000000.wav",),
        "all_unlabelled": ("01_000001.wav", "05_000003.wav"),
    }
    lab = clips.set_index("clip_id")["labelled"]
    assert lab[["00_000000.wav", "01_000001.wav", "05_000003.wav"]].tolist() == [0, 0, 0]
    assert int(lab.sum()) == 21
    with pytest.raises(AnnotationError, match="without any volunteer row"):
        aggregate_labels(read_annotations(ds / "annotations.csv"), strict=True)


def test_conflicting_duplicate_rows_are_refused_identical_ones_dropped(ds, capsys):
    header, rows = _rows(ds)
    victim = next(r for r in rows if r["annotator_id"] == "2")
    _save(ds, header, rows + [dict(victim)])  # identical repeat: dropped
    clips, report = sonyc.load_clips_report(ds)
    assert report.n_duplicate_rows == 1 and len(clips) == 24
    flipped = dict(victim)
    col = taxonomy.coarse_presence_columns()[0]
    flipped[col] = "0" if victim[col] == "1" else "1"
    _save(ds, header, rows + [flipped])
    before = tree_digest(ds)
    assert main(["labels", str(ds), "--out", str(ds.parent / "l.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mvlib: error: {ds / 'annotations.csv'}: line ")
    assert f"annotator 2 of clip '{victim['audio_filename']}' but disagree in ['{col}']" in err
    assert "keep one of the rows" in err and "\n" not in err
    assert tree_digest(ds) == before and not (ds.parent / "l.csv").exists()


def test_audio_only_folder_is_unlabelled_views_for_pairing(tmp_path):
    root = write_foreign_sonyc(tmp_path / "u", n_sensors=6, clips_per_sensor=4, columns="minimal")
    clips, report = sonyc.load_clips_report(root)
    assert len(clips) == 24 and (clips["labelled"] == 0).all()
    assert report.unlabelled["no_annotations"][:2] == ("00_000000.wav", "00_000001.wav")
    assert np.isnan(clips["latitude"]).all() and set(clips["split"]) == {
        "train",
        "validate",
        "test",
    }
    cfg = config.read_profile("ci", {"split.n_pairs": [8, 4, 4]}).split
    splits = make_splits(clips, cfg)  # pairing needs only sensor_id
    assert len(splits.pairs["train"]) == 8 and (splits.downstream == "").all()
    with pytest.raises(AnnotationError, match="all 24 clips are unlabelled"):
        sonyc.load_clips(root, strict=True)


def test_probe_partitions_hold_labelled_clips_only(ds):
    for clip in ("04_000000.wav", "04_000001.wav", "05_000002.wav"):
        _drop_verified(ds, clip)
    clips = sonyc.load_clips(ds)
    lab = clips["labelled"].to_numpy().astype(bool)
    part = downstream_partition(clips, ["104", "105"], (0.5, 0.25, 0.25), seed=0)
    assert (part[~lab] == "").all()
    held = clips["sensor_id"].isin(["104", "105"]).to_numpy()
    assert (part[held & lab] != "").all()
    # check_leakage accepts it, and refuses an unlabelled clip put in a partition
    splits = make_splits(clips, config.read_profile("ci", {"split.n_pairs": [4, 2, 2]}).split)
    check_leakage(splits, clips)
    bad = clips.copy()
    bad["labelled"] = 0
    assert (splits.downstream != "").any()
    with pytest.raises(LeakageError, match="unlabelled but in downstream"):
        check_leakage(splits, bad)


def test_labels_command_writes_one_row_per_clip(ds, tmp_path, capsys):
    _drop_verified(ds, "03_000002.wav")
    before = tree_digest(ds)
    out = tmp_path / "labels.csv"
    assert main(["labels", str(ds), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "24 clips: 23 labelled, 1 unlabelled" in printed
    assert "excluded from labels: 1 validate/test clip(s) without a verified row" in printed
    assert "03_000002.wav" in printed
    table = pd.read_csv(out, dtype={"sensor_id": str})
    assert tuple(table.columns) == COLUMNS
    assert COLUMNS[4:] == (
        "1_engine",
        "2_machinery-impact",
        "3_non-machinery-impact",
        "4_powered-saw",
        "5_alert-signal",
        "6_music",
        "7_human-voice",
        "8_dog",
    )
    assert len(table) == 24 and table["labelled"].sum() == 23
    assert set(np.unique(table[list(COLUMNS[4:])])) <= {0, 1}
    clips = sonyc.load_clips(ds)
    for col in COLUMNS[4:]:
        assert table[col].tolist() == clips[col].astype(int).tolist()
    assert tree_digest(ds) == before
    # never over an existing file without --force, never inside the dataset folder
    assert main(["labels", str(ds), "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["labels", str(ds), "--out", str(out), "--force"]) == 0
    assert main(["labels", str(ds), "--out", str(ds / "labels.csv")]) == 2
    assert "never writes to" in capsys.readouterr().err
    assert tree_digest(ds) == before
    assert main(["labels", str(ds), "--out", str(tmp_path / "s.csv"), "--strict"]) == 2


def test_label_matrix_of_each_task(ds):
    clips = sonyc.load_clips(ds)
    cols = list(taxonomy.coarse_label_columns())
    y = label_matrix(clips, "source")
    assert y.dtype == np.int64 and y.shape == (len(clips), 8)
    for c, col in enumerate(cols):  # column by column, as the table has them
        assert y[:, c].tolist() == clips[col].astype(int).tolist()
    assert y.tolist() == label_matrix(clips).tolist()  # "source" is the default
    sensors = label_matrix(clips, "sensor")
    assert sensors.tolist() == [str(s) for s in clips["sensor_id"]]
    assert set(sensors) == {str(100 + s) for s in range(6)}
    # a subset of rows keeps its rows' labels
    sub = clips.iloc[[5, 1, 3]]
    assert label_matrix(sub).tolist() == [y[5].tolist(), y[1].tolist(), y[3].tolist()]


def test_label_matrix_refuses_bad_tables(ds):
    clips = sonyc.load_clips(ds)
    col = taxonomy.coarse_label_columns()[2]
    bad = clips.copy()
    bad.loc[4, col] = 2
    with pytest.raises(ValueError, match=rf"column '{col}' row 4 is 2, expected 0 or 1"):
        label_matrix(bad)
    with pytest.raises(ValueError, match="missing label column"):
        label_matrix(clips.drop(columns=[col]))
    with pytest.raises(ValueError, match="label task 'speaker'"):
        label_matrix(clips, "speaker")
