"""Tests of mvlib.data.synth.plan.

The plan: set names, sensors' splits, clips independent of generation order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from synth_cases import SMALL, annotations_of

from mvlib.core.config import config_hash
from mvlib.data import taxonomy
from mvlib.data.synth.channel import synthesize_clip
from mvlib.data.synth.plan import (
    apply_drift,
    clip_plan,
    sensor_dataset_splits,
    sensor_params,
    set_name,
    stream_rng,
)


def test_set_name_is_versioned_config_hash():
    assert set_name(SMALL) == f"synth-v1-{config_hash(SMALL)}"
    assert set_name(SMALL) != set_name(replace(SMALL, seed=4))


def test_sensors_have_one_split_each(small):
    ann = annotations_of(small)
    assert (ann.groupby("sensor_id")["split"].nunique() == 1).all()
    per_split = ann.groupby("split")["sensor_id"].nunique()
    assert set(per_split.index) == set(taxonomy.DATASET_SPLITS)
    splits = sensor_dataset_splits(replace(SMALL, n_sensors=20))
    counts = pd.Series(splits).value_counts()
    assert (counts["train"], counts["validate"], counts["test"]) == (12, 4, 4)


def test_clip_independent_of_generation_order():
    params = sensor_params(SMALL, 2)
    plan = clip_plan(SMALL, 2, 3, params)
    assert plan == clip_plan(SMALL, 2, 3, sensor_params(SMALL, 2))
    y1 = synthesize_clip(
        SMALL, apply_drift(params, plan["drift"]), plan["sources"], stream_rng(SMALL, 2, 2, 3)
    )
    clip_plan(SMALL, 5, 0, sensor_params(SMALL, 5))  # unrelated draws in between
    y2 = synthesize_clip(
        SMALL, apply_drift(params, plan["drift"]), plan["sources"], stream_rng(SMALL, 2, 2, 3)
    )
    assert np.array_equal(y1, y2)
