"""Tests of mvlib.data.synth.truth.

Ground truth: truth.json tables, loader labels against it, label agreement.
"""

from __future__ import annotations

import numpy as np
import pytest
from synth_cases import SMALL

from mvlib.core.synth_config import SynthConfig
from mvlib.data import sonyc, taxonomy
from mvlib.data.synth.generation import generate
from mvlib.data.synth.plan import DRIFT_KEYS
from mvlib.data.synth.truth import label_agreement, load_truth


def test_load_truth_tables(small):
    t = load_truth(small)
    s, c = t["sensors"], t["clips"]
    assert len(s) == SMALL.n_sensors and len(c) == SMALL.n_sensors * SMALL.clips_per_sensor
    for col in (
        "sensor_id",
        "lowcut_hz",
        "rt60_s",
        "hum_hz",
        "hum_db",
        "noise_tilt_db_oct",
        "eq0_gain_db",
    ):
        assert col in s.columns, col
    assert set(taxonomy.coarse_label_columns()) <= set(c.columns)
    assert set(DRIFT_KEYS) <= set(c.columns)
    labels = c[list(taxonomy.coarse_label_columns())].to_numpy()
    assert set(np.unique(labels)) <= {0, 1}
    snr = c["1_engine_snr_db"].to_numpy()
    assert np.array_equal(np.isnan(snr), c["1_engine"].to_numpy() == 0)
    with pytest.raises(FileNotFoundError, match="truth.json"):
        load_truth(small / "audio")


def test_data_loader_reads_truth_for_verified_splits(small):

    clips = sonyc.load_clips(small).set_index("audio_filename")
    truth = load_truth(small)["clips"].set_index("audio_filename")
    assert set(clips.index) == set(truth.index)
    cols = list(taxonomy.coarse_label_columns())
    held = truth.index[truth["split"] != "train"]
    assert np.array_equal(clips.loc[held, cols].to_numpy(), truth.loc[held, cols].to_numpy())
    assert (clips.loc[truth.index, "split"] == truth["split"]).all()
    # train labels: any volunteer's 1, so a superset of the truth unless all missed
    train = truth.index[truth["split"] == "train"]
    agree = (clips.loc[train, cols].to_numpy() == truth.loc[train, cols].to_numpy()).mean()
    assert agree > 0.8, agree


def test_label_agreement_is_perfect_for_verified_rows(tmp_path):
    cfg = SynthConfig(n_sensors=6, clips_per_sensor=6, duration_s=0.5, sample_rate=8000)
    root = generate(cfg, tmp_path / "ds", progress=False)
    table = label_agreement(sonyc.load_clips(root), load_truth(root))
    assert table.loc["verified", "agreement"] == 1.0
    assert table.loc["verified", "missed (of true sources)"] == 0.0
    # volunteers miss some sources (miss rate 0.15 each, union of 3 volunteers)
    assert 0.0 <= table.loc["volunteers", "missed (of true sources)"] < 0.2
