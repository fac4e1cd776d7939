"""Tests of mvlib.data.synth.plan.

The plan: set names, sensors' splits, clips independent of generation order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from synth_cases import SMALL, annotations_of

from mvlib.core.config import config_hash
from mvlib.data import synth, taxonomy
from mvlib.data.synth.plan import stream_rng


def test_set_name_is_versioned_config_hash():
    assert synth.set_name(SMALL) == f"synth-v1-{config_hash(SMALL)}"
    assert synth.set_name(SMALL) != synth.set_name(replace(SMALL, seed=4))


def test_sensors_have_one_split_each(small):
    ann = annotations_of(small)
    assert (ann.groupby("sensor_id")["split"].nunique() == 1).all()
    per_split = ann.groupby("split")["sensor_id"].nunique()
    assert set(per_split.index) == set(taxonomy.SPLITS)
    splits = synth.sensor_splits(replace(SMALL, n_sensors=20))
    counts = pd.Series(splits).value_counts()
    assert (counts["train"], counts["validate"], counts["test"]) == (12, 4, 4)


def test_clip_independent_of_generation_order():
    params = synth.sensor_params(SMALL, 2)
    plan = synth.clip_plan(SMALL, 2, 3, params)
    assert plan == synth.clip_plan(SMALL, 2, 3, synth.sensor_params(SMALL, 2))
    y1 = synth.synthesize_clip(
        SMALL, synth.apply_drift(params, plan["drift"]), plan["sources"], stream_rng(SMALL, 2, 2, 3)
    )
    synth.clip_plan(SMALL, 5, 0, synth.sensor_params(SMALL, 5))  # unrelated draws in between
    y2 = synth.synthesize_clip(
        SMALL, synth.apply_drift(params, plan["drift"]), plan["sources"], stream_rng(SMALL, 2, 2, 3)
    )
    assert np.array_equal(y1, y2)
