"""Chapter 2's frontend comparison: scores from the cross-validated probe, words from the scores."""

import numpy as np
import pandas as pd
import pytest

from mvlib.data.taxonomy import coarse_label_columns
from mvlib.evaluate.probe.linear_cv import cross_validated_scores, pooled_mean_std
from mvlib.report import frontend_probe


class ArrayStore:
    """A latent store stand-in: clip id -> ndarray[T x D]."""

    def __init__(self, feats: dict):
        self.feats = feats

    def get(self, clip_id):
        return self.feats[clip_id]


def clips_and_stores(n_sensors=4, per_sensor=8, seed=0):
    """Clips whose 'informative' features carry sensor and source; 'noise' features do not."""
    rng = np.random.default_rng(seed)
    cols = list(coarse_label_columns())
    rows, informative, noise = [], {}, {}
    for s in range(n_sensors):
        for k in range(per_sensor):
            cid = f"s{s}-{k}"
            y = (rng.random(len(cols)) < 0.4).astype(int)
            y[0] = k % 2  # the first class is balanced within every sensor
            rows.append({"clip_id": cid, "sensor_id": f"s{s}", **dict(zip(cols, y))})
            signal = np.concatenate([np.eye(n_sensors)[s] * 3, y * 3.0])  # (n_sensors + 8,)
            informative[cid] = signal + rng.normal(size=(20, signal.size)) * 0.5  # (T, D)
            noise[cid] = rng.normal(size=(20, signal.size))
    return pd.DataFrame(rows), ArrayStore(informative), ArrayStore(noise)


def test_comparison_rows_are_the_cross_validated_probe_of_each_store():
    clips, good, bad = clips_and_stores()
    comp = frontend_probe.frontend_scores(
        [("good, all", good, clips), ("noise, half", bad, clips.iloc[::2])]
    )
    assert list(comp.index) == ["good, all", "noise, half"]
    X = pooled_mean_std(good, clips["clip_id"])
    ref = cross_validated_scores(X, clips["sensor_id"], clips["sensor_id"], "sensor")
    assert comp.loc["good, all", "sensor"] == pytest.approx(ref.score)
    assert comp.loc["good, all", "sensor low"] == pytest.approx(ref.ci_low)
    assert comp.loc["noise, half", "clips"] == 16
    assert comp.loc["good, all", "sensor chance"] == pytest.approx(0.25)
    assert frontend_probe.verdict(comp.loc["good, all"], "sensor") == "above chance"
    assert frontend_probe.verdict(comp.loc["good, all"], "source") == "above chance"
    assert frontend_probe.verdict(comp.loc["noise, half"], "sensor") != "above chance"
    table = frontend_probe.frontend_table(comp)
    assert not table.isna().any().any()
    assert table.loc["noise, half", "clips (sensors)"] == "16 (4)"
    cell = table.loc["good, all", "sensor balanced acc."]
    assert cell == (
        f"{ref.score:.2f} [{ref.ci_low:.2f}, {ref.ci_high:.2f}]"
    ), "the table shows the probe's score and interval"


def test_reading_says_what_the_intervals_say():
    row = {
        "sensor": 0.30,
        "sensor low": 0.20,
        "sensor high": 0.41,
        "sensor chance": 0.25,
        "source": 0.71,
        "source low": 0.62,
        "source high": 0.80,
        "source chance": 0.5,
        "clips": 24,
        "sensors": 6,
    }
    low = dict(row, **{"source": 0.40, "source low": 0.31, "source high": 0.47})
    comp = pd.DataFrame({"DAC": row, "odd": low}).T
    text = frontend_probe.frontend_reading(comp)
    assert "**DAC** (24 clips of 6 sensors)" in text
    assert "sensor 0.30 [0.20, 0.41] is **not distinguishable from chance** (0.25)" in text
    assert "source 0.71 [0.62, 0.80] is **above chance** (0.50)" in text
    assert "source 0.40 [0.31, 0.47] is **below chance**" in text
    assert "Below chance is not information" in text
    assert "Below chance" not in frontend_probe.frontend_reading(comp.iloc[:1])
    fig = frontend_probe.plot_frontend_probe(comp)
    assert len(fig.axes) == 2
