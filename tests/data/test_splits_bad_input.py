"""Splits on a researcher's data: single-clip sensors, held-out sensors in few partitions."""

import numpy as np
import pandas as pd
import pytest

from mvlib.core import config
from mvlib.core.errors import MvlibError
from mvlib.data.splits.make import UnpairableError, make_splits
from mvlib.data.splits.partition import downstream_partition
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.evaluate.probe import runcheck


def _table(counts):
    rows = []
    rng = np.random.default_rng(0)
    for s, n in enumerate(counts):
        for k in range(n):
            labels = (rng.random(8) < 0.4).astype(np.int8)
            rows.append(
                {
                    "clip_id": f"{s}_{k}",
                    "sensor_id": f"s{s}",
                    **dict(zip(coarse_label_columns(), labels)),
                }
            )
    return pd.DataFrame(rows)


def _split_cfg(**over):
    return config.read_profile("ci", {"split.n_pairs": [8, 4, 4], **over}).split


def test_single_clip_sensors_are_reported_and_splitting_carries_on():
    clips = _table([5, 5, 1, 5, 5, 5, 5, 5, 5])  # val gets 2 sensors: one has clips
    with pytest.warns(
        UserWarning, match=r"1 sensor\(s\) with a single clip cannot form a view pair.*: s2"
    ):
        splits = make_splits(clips, _split_cfg())
    for name in ("train", "val"):
        assert len(splits.pairs[name]) > 0


def test_a_split_of_single_clip_sensors_is_a_clear_error_not_an_assertion():
    clips = _table([5, 5, 1, 1, 1, 1])
    cfg = _split_cfg(**{"split.sensor_fractions": [0.34, 0.33, 0.33]})
    with (
        pytest.warns(UserWarning, match="single clip"),
        pytest.raises(UnpairableError) as e,
    ):
        for seed in range(50):  # some seed puts only single-clip sensors in train or val
            make_splits(clips, cfg.__class__(**{**vars(cfg), "seed": seed}))
    assert isinstance(e.value, MvlibError)
    assert "a pair needs two clips of one sensor" in e.value.what
    assert "1 clip(s)" in e.value.what and "split.seed" in e.value.fix


def test_heldout_sensor_with_one_clip_is_named():
    clips = _table([6, 6, 6, 1])
    with pytest.warns(UserWarning, match=r"held-out sensor 's3' has only 1 clip"):
        part = downstream_partition(clips, ["s2", "s3"], (0.6, 0.2, 0.2), seed=0)
    down = clips.assign(part=part)[part != ""]
    assert runcheck.partial_sensors(down, down["part"].to_numpy()) == [f"s3 (in ['{part[-1]}'])"]
