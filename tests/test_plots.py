"""Provenance banner and figures (mvlib.plots)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mvlib import config, plots  # noqa: E402
from mvlib.taxonomy import coarse_label_columns  # noqa: E402


def test_banner_names_data_frontend_and_warns_on_random_weights():
    cfg = config.load_config("ci")
    text = plots.banner(
        cfg, {"frontend": "dac", "weights": "random-init-seed-0", "weights_sha256": "abc"}
    )
    assert "synthetic" in text.lower() and "`dac`" in text and "random-init-seed-0" in text
    assert "Random DAC weights" in text
    real = plots.banner(
        cfg.replace({"data.source": "sonyc", "data.root": "/data/sonyc"}),
        {"frontend": "dac", "weights": "dac_44khz_8kbps_0.0.1"},
    )
    assert "Random DAC" not in real and "Synthetic data" not in real and "/data/sonyc" in real


def _clips():
    y = np.eye(8, dtype=int)[[0, 1, 2, 3]]
    return pd.DataFrame(
        {
            "clip_id": list("abcd"),
            "sensor_id": ["1", "1", "2", "2"],
            **dict(zip(coarse_label_columns(), y.T)),
        }
    )


def test_label_statistics_and_titles():
    clips = _clips()
    stats = plots.label_statistics(clips)
    assert stats.loc["engine", "clips"] == 1 and stats.loc["dog", "clips"] == 0
    assert plots.clip_titles(clips.iloc[:1]) == ["a · sensor 1 · engine"]


def test_figures_have_the_expected_panels():
    clips = _clips()
    assert len(plots.plot_label_statistics(clips).axes) == 2
    hist = pd.DataFrame(
        {
            "epoch": [0, 0, 1, 1],
            "split": ["train", "val"] * 2,
            "total": [3, 2, 1, 1],
            "rec": [3, 2, 1, 1],
            "cos": [0] * 4,
        }
    )
    assert len(plots.plot_losses(hist).axes) == 3
    x = np.random.default_rng(0).normal(size=(20, 6))
    assert len(plots.plot_reconstruction(x, x * 0.9).axes) == 6  # 3 images + 3 colorbars
    wave = np.random.default_rng(0).normal(size=8000).astype(np.float32)
    assert len(plots.plot_latent(x, wave, 8000).axes) == 3


def test_banner_names_a_folder_by_what_it_holds_not_by_data_source(tmp_path):
    # issue 15: a user's folder is not "synthetic" because data.source was left at synth
    from foreign_data import write_foreign_sonyc

    from mvlib import workflow

    root = write_foreign_sonyc(tmp_path / "mine", n_sensors=3, clips_per_sensor=2)
    cfg = config.load_config("ci", {"data.root": str(root)})  # data.source: synth
    text = plots.banner(cfg)
    assert f"SONYC-format dataset at {root}" in text and "Synthetic data" not in text
    small = {"synth.n_sensors": 3, "synth.clips_per_sensor": 2, "synth.duration_s": 0.5}
    gen = config.load_config("ci", {**small, "data.root": str(tmp_path / "gen")})
    workflow.ensure_dataset(gen, progress=False)
    assert "Synthetic data" in plots.banner(gen) and "mvlib's synthetic" in plots.banner(gen)
