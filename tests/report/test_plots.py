"""Provenance banner and figures (mvlib.report.plots)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from fake_results import make_results  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from mvlib.core import config  # noqa: E402
from mvlib.data.taxonomy import coarse_label_columns  # noqa: E402
from mvlib.report import plots, tables  # noqa: E402


def test_banner_names_data_frontend_and_warns_on_random_weights():
    cfg = config.read_profile("ci")
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

    from mvlib.data.dataset import ensure_dataset

    root = write_foreign_sonyc(tmp_path / "mine", n_sensors=3, clips_per_sensor=2)
    cfg = config.read_profile("ci", {"data.root": str(root)})  # data.source: synth
    text = plots.banner(cfg)
    assert f"SONYC-format dataset at {root}" in text and "Synthetic data" not in text
    small = {"synth.n_sensors": 3, "synth.clips_per_sensor": 2, "synth.duration_s": 0.5}
    gen = config.read_profile("ci", {**small, "data.root": str(tmp_path / "gen")})
    ensure_dataset(gen, progress=False)
    assert "Synthetic data" in plots.banner(gen) and "mvlib's synthetic" in plots.banner(gen)


def _figure2_data():
    rows = []
    for i, (name, group) in enumerate(
        [("rec", "rec"), ("rec + cos- sample", "cos"), ("rec + mask z_p r=0.4", "mask")]
    ):
        for task in ("source", "sensor"):
            rows.append(
                dict(
                    config=name,
                    group=group,
                    task=task,
                    overall=0.5 + 0.05 * i,
                    overall_low=0.48 + 0.05 * i,
                    overall_high=0.52 + 0.05 * i,
                    dsc=0.1 * (i - 1),
                    dsc_low=0.1 * (i - 1) - 0.03,
                    dsc_high=0.1 * (i - 1) + 0.03,
                    paper=0.61 if name == "rec" else float("nan"),
                    seeds=3,
                )
            )
    for task in ("source", "sensor"):
        rows.append(
            dict(
                config="frontend only",
                group="baseline",
                task=task,
                overall=0.52,
                overall_low=0.5,
                overall_high=0.54,
                dsc=float("nan"),
                dsc_low=float("nan"),
                dsc_high=float("nan"),
                paper=float("nan"),
                seeds=3,
            )
        )
    return pd.DataFrame(rows)


def test_figure2_one_panel_per_task_configurations_as_labels(tmp_path):
    data = _figure2_data()
    fig = plots.plot_figure2(data)
    subfigs = fig.subfigs
    assert len(subfigs) == 2 and len(fig.axes) == 4
    titles = [sf._suptitle.get_text() for sf in subfigs]
    assert titles[0].startswith("Source") and titles[1].startswith("Sensor")
    ax = fig.axes[0]
    at = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert at == {"rec": 2, "+ cos- sample": 1, "+ mask z_p r=0.4": 0}  # first config on top
    # the paper's value is a separate hollow diamond marker, only where the paper has one
    diamonds = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]
    assert len(diamonds) == 1 and diamonds[0].get_xdata()[0] == 0.61
    fig.savefig(tmp_path / "fig2.png", dpi=60)
    text = plots.figure2_caption(data)
    assert "Look at" in text
    assert "- source: beat the frontend alone (CI clear of its band): rec + mask z_p r=0.4;" in text
    assert "DSCΔ clearly > 0: rec + mask z_p r=0.4." in text


def test_forest_plot_shows_every_delta_its_ci_zero_and_the_row_mdd(tmp_path):
    t = tables.table1(make_results(tmp_path / "runs"))
    fig = plots.plot_forest(t)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "source: Δ vs multiview (best)",
        "sensor: Δ vs multiview (best)",
    ]
    for ax, task in zip(axes, ("source", "sensor"), strict=True):
        c = t.comparisons[t.comparisons.task == task]
        # one dot per comparison at its estimate, with its CI as the error bar
        dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
        xs = sorted(float(ln.get_xdata()[0]) for ln in dots)
        np.testing.assert_allclose(xs, sorted(c.estimate))
        bars = [col for col in ax.collections if col.__class__.__name__ == "LineCollection"]
        spans = sorted(tuple(seg[:, 0]) for b in bars for seg in b.get_segments())
        want = sorted(zip(c.ci_low, c.ci_high, strict=True))
        np.testing.assert_allclose(spans, want)
        # the zero line, and each row's band spanning ± its MDD
        assert any(list(ln.get_xdata()) == [0, 0] for ln in ax.lines)
        bands = [p for p in ax.collections if isinstance(p, PolyCollection)]
        widths = sorted(float(np.ptp(p.get_paths()[0].vertices[:, 0])) / 2 for p in bands)
        np.testing.assert_allclose(widths, sorted(c.mdd), rtol=1e-9)
        # colour = verdict: green better, red worse, hollow not resolved
        faces = {tuple(np.round(matplotlib.colors.to_rgb(ln.get_mfc()), 3)) for ln in dots}
        assert faces <= {
            tuple(np.round(matplotlib.colors.to_rgb(v[0]), 3))
            for v in plots.FOREST_VERDICTS.values()
        }
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    want = [
        plots.FOREST_VERDICTS[v][1]
        for v in plots.FOREST_VERDICTS
        if v in set(t.comparisons.verdict)
    ]
    assert legend == ["± the row's MDD", *want]
    labels = [tl.get_text() for tl in axes[0].get_yticklabels()]
    assert labels == ["singleview AE", "contrastive (InfoNCE)", "frontend only", "supervised"]
