"""Tables 1 and 2: paired seed × clip statistics, Holm, MDD, choice on validation, CSV."""

import hashlib
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mvlib.core.errors import MvlibError
from mvlib.evaluate.significance import holm
from mvlib.report import tables

N_CLIPS = 240
SEEDS = (0, 1, 2)
METHOD = {
    "singleview AE": "singleview",
    "contrastive (InfoNCE)": "contrastive",
    "supervised source": "supervised",
    "supervised sensor": "supervised",
    "frontend only": "frontend",
}
FEATURE = {"multiview": "joint", "singleview": "joint", "frontend": "x"}


def _write_run(run_dir, config, seed, source, sensor, val=(0.5, 0.5), frontend="logmel"):
    """A probed run as probe.py writes it: results.json + predictions.npz (hash checked)."""
    method = METHOD.get(config, "multiview")
    feat = FEATURE.get(method, "z")
    run_dir.mkdir(parents=True)
    ids = np.array([f"clip{i:04d}" for i in range(N_CLIPS)])
    arrays = {
        "clip_id.test": ids,
        "clip_id.val": ids[:20],
        f"{feat}.source.test.score": source,
        f"{feat}.source.test.jaccard_empty0": source * 0.8,
        f"{feat}.sensor.test.score": sensor,
        f"{feat}.source.val.score": np.full(20, val[0]),
        f"{feat}.sensor.val.score": np.full(20, val[1]),
    }
    if method == "multiview":  # subspace probes: z_p holds the source, z_s the sensor
        arrays.update(
            {
                "z_p.source.test.score": source,
                "z_s.source.test.score": source - 0.1,
                "z_s.sensor.test.score": sensor,
                "z_p.sensor.test.score": np.zeros_like(sensor),
            }
        )
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (run_dir / "predictions.npz").write_bytes(buf.getvalue())
    summary = {
        "profile": "ci",
        "method": method,
        "seed": seed,
        "data": "synth:test",
        "frontend": frontend,
        "weights": "n/a (no weights)",
        "source_jaccard": float(source.mean()),
        "sensor_accuracy": float(sensor.mean()),
        "source_jaccard_empty0": float(source.mean() * 0.8),
        "source_micro_auprc": 0.5,
        "source_macro_auprc": None,  # undefined: written as null, shown as —
        "source_val_jaccard": val[0],
        "sensor_val_accuracy": val[1],
        "main_feature": feat,
    }
    res = {
        "summary": summary,
        "git_commit": "abc123",
        "provenance": {"feature_identity": {"frontend": frontend}},
        "predictions": {
            "file": "predictions.npz",
            "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        },
    }
    (run_dir / "results.json").write_text(json.dumps(res, allow_nan=False))


#: configuration -> (source effect, sensor effect, validation score)
EFFECTS = {
    "rec": (0.0, 0.0, 0.50),
    "rec + cos- sample": (0.10, 0.10, 0.60),  # the best on validation
    "rec + cos- batch": (0.0, 0.0, 0.40),
    "rec + cos+ sample": (-0.05, -0.05, 0.45),
    "rec + cos+ batch": (0.0, 0.0, 0.40),
    "rec + mask z_p r=0.4": (0.15, 0.15, 0.55),  # best on TEST, not on validation
    "singleview AE": (0.10, 0.10, 0.5),  # same as the best: no difference
    "contrastive (InfoNCE)": (-0.30, -0.30, 0.3),
    "frontend only": (0.08, 0.08, 0.5),
    "supervised source": (0.2, 0.0, 0.6),
    "supervised sensor": (0.0, 0.3, 0.6),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    clip_src = rng.uniform(0.2, 0.7, N_CLIPS)  # clip difficulty shared by every run
    clip_sen = rng.uniform(0.2, 0.7, N_CLIPS)
    paths, names, groups = [], [], []
    for config, (e_src, e_sen, val) in EFFECTS.items():
        for s in SEEDS:
            src = np.clip(clip_src + e_src + rng.normal(0, 0.05, N_CLIPS), 0, 1)
            sen = (rng.random(N_CLIPS) < np.clip(clip_sen + e_sen, 0, 1)).astype(float)
            d = root / f"{config.replace(' ', '_')}-seed{s}"
            _write_run(d, config, s, src, sen, val=(val, val))
            paths.append(d)
            names.append(config)
            groups.append(
                config.split(" ")[2].rstrip("-+") if config.startswith("rec +") else "rec"
            )
    df = tables.load_results(paths)
    df["config"] = names
    df["group"] = groups
    return df


def test_best_multiview_is_chosen_on_validation_not_test(results):
    best, val = tables.best_multiview(results)
    assert best == "rec + cos- sample"
    assert val.index[0] == best and val.loc[best, "seeds"] == 3
    # on test, masking is better: the choice must not follow it
    test_means = results.groupby("config")["source_jaccard"].mean()
    assert test_means["rec + mask z_p r=0.4"] > test_means["rec + cos- sample"]
    t1 = tables.table1(results, n_boot=500)
    assert "**rec + cos- sample**" in t1.notes
    assert t1.data.loc[0, "source config"] == "rec + cos- sample"
    html = t1._repr_html_()  # what a notebook shows: the display table, no NaN
    assert html.startswith("<table") and "multiview (best)" in html and "nan" not in html.lower()


def test_table1_paired_differences_holm_and_winners(results):
    t1 = tables.table1(results, n_boot=1000)
    assert list(t1.display.index) == [
        "multiview (best)",
        "singleview AE",
        "contrastive (InfoNCE)",
        "frontend only",
        "supervised",
    ]
    c = t1.comparisons
    assert len(c) == 8  # 4 rows x 2 tasks, one family
    # the estimate is the mean paired per-clip difference over seeds and clips
    a = tables.per_clip_matrix(results, "contrastive (InfoNCE)", "source").to_numpy()
    b = tables.per_clip_matrix(results, "rec + cos- sample", "source").to_numpy()
    row = c[(c.configuration == "contrastive (InfoNCE)") & (c.task == "source")].iloc[0]
    assert row.estimate == pytest.approx((a - b).mean())
    assert row.n_seeds == 3 and row.n_clips == N_CLIPS
    np.testing.assert_allclose(c.p_holm, holm(c.p))
    # a real gap is found; no gap is not called a win
    assert row.significant and row.winner == "multiview (best)"
    same = c[c.configuration == "singleview AE"]
    assert not same.significant.any() and (same.winner == "").all()
    assert t1.display.loc["singleview AE", "better (Holm)"] == "no significant difference"
    assert t1.display.loc["contrastive (InfoNCE)", "better (Holm)"].startswith(
        "source: multiview (best)"
    )
    # supervised: source from the source-trained run, sensor from the sensor-trained run
    sup = c[(c.configuration == "supervised") & (c.task == "sensor")].iloc[0]
    assert sup.estimate == pytest.approx(0.2, abs=0.06) and sup.winner == "supervised"
    assert t1.display.loc["multiview (best)", "Δ source [95% CI]"] == "reference"


def test_mdd_line_states_the_strictest_holm_level(results):
    t1 = tables.table1(results, n_boot=1000)
    lines = re.findall(r"minimum detectable difference: (0\.\d{3})", t1.notes)
    assert len(lines) == 2
    se = t1.comparisons.loc[t1.comparisons.task == "source", "se"].max()
    want = (stats.norm.ppf(1 - 0.05 / 8 / 2) + stats.norm.ppf(0.8)) * se
    assert t1.mdd["source"] == pytest.approx(want)
    assert lines[0] == f"{want:.3f}" and "0.05/8" in t1.notes
    # the line names the two sources of that SE (which one a larger design should add)
    worst = t1.comparisons.loc[t1.comparisons.loc[t1.comparisons.task == "source", "se"].idxmax()]
    assert (
        f"of which seeds alone {worst.se_units:.4f} and test clips alone {worst.se_clips:.4f}"
        in (t1.notes)
    )
    assert 0 < worst.se_units < worst.se and 0 < worst.se_clips < worst.se


def test_cells_without_a_value_show_a_dash_never_nan(results):
    t2 = tables.table2(results, mask_ratios=(0.4, 0.8), n_boot=200)
    html = t2.display.to_html()
    assert "nan" not in html.lower()
    # r=0.8 was not run: no row; r=0.4 has a paper value; cos+ batch has one too
    assert "rec + mask z_p r=0.8" not in t2.display.index
    assert t2.display.loc["rec", "paper sensor"] == "0.739"
    assert t2.display.loc["rec", "source macro AUPRC"] == tables.DASH  # null in results
    t1 = tables.table1(results, n_boot=200)
    assert "nan" not in t1.display.to_html().lower()
    assert len(t2.comparisons) == 2 * 5


def test_tables_refuse_mixed_frontends(results):
    df = results.copy()
    df.loc[0, "frontend"] = "dac"
    with pytest.raises(AssertionError, match="mix frontends"):
        tables.table1(df)


def test_csv_has_every_row_with_provenance_and_no_nan(results, tmp_path):
    t1 = tables.table1(results, n_boot=200)
    out = tables.write_csv(t1, tmp_path / "tables")
    assert out == tmp_path / "tables" / "table1.csv"
    text = out.read_text()
    assert "nan" not in text.lower()
    csv = pd.read_csv(out)
    assert list(csv["configuration"]) == list(t1.display.index)
    for col in ("seeds", "profile", "git_commit", "frontend", "weights", "data"):
        assert col in csv, col
    assert (csv["seeds"] == "0 1 2").all() and (csv["git_commit"] == "abc123").all()
    assert (csv["frontend"] == "logmel").all() and (csv["profile"] == "ci").all()
    assert csv.loc[0, "source_config"] == "rec + cos- sample"
    assert csv["minimum_detectable_difference_source"].iloc[0] == pytest.approx(
        t1.mdd["source"], rel=1e-5
    )
    for col in ("source_jaccard", "delta_source_estimate", "delta_sensor_p_holm"):
        assert col in csv, col
    assert math.isnan(csv.loc[0, "delta_source_p_holm"])  # reference: empty cell
    assert (tmp_path / "tables" / "table1.notes.md").read_text().startswith("The multiview")
    # a rewrite goes into the folder mvlib made; a user's folder is refused
    tables.write_csv(t1, tmp_path / "tables")
    (tmp_path / "mine").mkdir()
    with pytest.raises(MvlibError, match="not created by mvlib"):
        tables.write_csv(t1, tmp_path / "mine")


def test_reading_states_claims_with_corrected_tests(results):
    t1 = tables.table1(results, n_boot=500)
    text = tables.reading(results, t1, n_boot=500)
    assert "InfoNCE on same-sensor pairs is weaker than it on both tasks — **holds here**" in text
    assert "beats the single-view autoencoder on both tasks — **not resolved here**" in text
    # the fixture's supervised row is better than the best multi-view: not a paper claim,
    # but a claim contradicted by a significant opposite difference says so
    assert (
        tables._claim("x", [(-0.1, True), (0.2, True)], "d") == "* x — **contradicted here** (d)."
    )
    assert tables._claim("x", [(0.1, True), (0.2, True)], "d") == "* x — **holds here** (d)."
    assert tables._claim("x", None, "") == "* x — **not measured**."
    assert "Separation (cos−) beats similarity (cos+)" in text and "Holm p" in text
    assert "chosen on validation: **rec + cos- sample**" in text
    # fixture: z_s - z_p on the sensor task is the same per-clip score for rec and mask
    assert "Masking z_p pushes sensor information into z_s" in text and "r=0.4: Δ" in text


def test_load_results_reads_summaries_and_provenance(tmp_path):
    (tmp_path / "a").mkdir()
    payload = {"summary": {"seed": 3, "x": 1}, "git_commit": "c0ffee"}
    (tmp_path / "a" / "results.json").write_text(json.dumps(payload))
    df = tables.load_results([tmp_path / "a", tmp_path / "missing"])
    assert df.to_dict("records") == [
        {"seed": 3, "x": 1, "run_dir": str(tmp_path / "a"), "git_commit": "c0ffee"}
    ]


def test_figure2_data_has_overall_and_dsc_with_cis(results):
    data = tables.figure2_data(results, n_boot=300)
    mv = data[data.config != "frontend only"]
    assert set(mv.config) == {k for k in EFFECTS if k.startswith("rec")}
    assert set(data.task) == {"source", "sensor"} and len(data) == 2 * 7
    r = data[(data.config == "rec + cos- sample") & (data.task == "source")].iloc[0]
    src = tables.per_clip_matrix(results, "rec + cos- sample", "source").to_numpy()
    assert r.overall == pytest.approx(src.mean()) and r.overall_low < r.overall < r.overall_high
    assert r.dsc == pytest.approx(0.1) and r.group == "cos"  # z_p - z_s = 0.1 by construction
    sen = data[(data.config == "rec") & (data.task == "sensor")].iloc[0]
    assert sen.dsc > 0.2 and sen.paper == 0.739
    base = data[data.config == "frontend only"]
    assert len(base) == 2 and base.dsc.isna().all()


@pytest.mark.parametrize(
    "chapter, names",
    [
        ("04_ablations.ipynb", ["table1", "table2"]),
        ("06_label_efficiency.ipynb", ["label_efficiency"]),
    ],
)
def test_chapters_link_the_csv_they_write(chapter, names):
    # the CSV lands in the chapter's own folder (jupyter-book runs chapters there) and the
    # {download} link makes jupyter-book copy it into _build/html/_downloads
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[2] / "book" / chapter).read_text())
    text = {
        k: "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == k)
        for k in ("markdown", "code")
    }
    assert 'tables_dir = "_tables"' in text["code"]
    for name in names:
        assert f"<_tables/{name}.csv>`" in text["markdown"], name
        assert "{download}" in text["markdown"]
    assert "write_csv(" in text["code"] or "write_frame(" in text["code"]


def test_training_summary_reads_how_each_run_ended(tmp_path):
    rows = []
    ends = {  # (config, seed): (best epoch 0-based, epochs run, budget, stopped early)
        ("rec", 0): (9, 13, 15, True),
        ("rec", 1): (14, 15, 15, False),  # best at its last epoch: no plateau
        ("rec + cos- sample", 0): (11, 15, 15, False),
    }
    for (config, seed), (best, run, budget, early) in ends.items():
        d = tmp_path / f"{config}-{seed}"
        d.mkdir()
        done = {"best_epoch": best, "epochs_run": run, "epochs": budget, "stopped_early": early}
        (d / "done.json").write_text(json.dumps(done))
        rows.append({"config": config, "seed": seed, "run_dir": str(d)})
    rows.append({"config": "frontend only", "seed": 0, "run_dir": str(tmp_path / "none")})
    t = tables.training_summary(pd.DataFrame(rows))
    assert list(t.index) == ["rec", "rec + cos- sample"]  # no training: no row
    assert t.loc["rec", "runs"] == 2 and t.loc["rec", "best epoch (range)"] == "10–15"
    assert t.loc["rec", "best epoch (median)"] == 12.5 and t.loc["rec", "stopped early"] == 1
    assert t.loc["rec", "best before last"] == 1  # 10 of 13; the other's best is its last
    assert t.loc["rec + cos- sample", "best before last"] == 1
    assert t.loc["rec + cos- sample", "epochs run (median)"] == 15
    empty = tables.training_summary(pd.DataFrame(rows[-1:]))
    assert len(empty) == 0 and "best before last" in empty.columns
