"""The SONYC-UST taxonomy and the annotation column names built from it."""

from mvlib.data import taxonomy as T


def test_eight_coarse_classes_in_order():
    assert T.coarse_names()[0] == "engine" and T.coarse_names()[-1] == "dog"
    assert len(T.coarse_names()) == 8
    assert T.coarse_label_columns()[4] == "5_alert-signal"
    assert T.coarse_presence_columns()[0] == "1_engine_presence"


def test_fine_columns_follow_the_dataset_naming():
    fine = T.fine_columns()
    assert len(fine) == 29  # 23 fine classes + 6 "X" (uncertain) columns
    assert ("1-1_small-sounding-engine_presence", "1-1_small-sounding-engine_proximity") in fine
    assert (
        "1-X_engine-of-uncertain-size_presence",
        "1-X_engine-of-uncertain-size_proximity",
    ) in fine


def test_annotation_columns_are_unique_and_complete():
    cols = T.annotation_columns()
    assert len(cols) == len(set(cols)) == 12 + 29 + 8 + 29
    assert cols[:4] == ("split", "sensor_id", "audio_filename", "annotator_id")
