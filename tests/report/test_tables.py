"""Tables 1 and 2: paired seed × clip statistics, Holm, MDD, choice on validation, CSV."""

import hashlib
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_results import EFFECTS, N_CLIPS, make_results

from mvlib.core.errors import MvlibError
from mvlib.evaluate.significance import holm, mdd
from mvlib.report import claims, tables
from mvlib.report.claims import reading
from mvlib.report.comparison import DASH, MAIN_COLUMNS, dominated, verdict
from mvlib.report.export import write_csv
from mvlib.report.figure2 import figure2_data
from mvlib.report.results import (
    best_multiview,
    best_probabilities,
    clip_sensors,
    load_results,
    per_clip_matrix,
    training_summary,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("runs"))


def test_best_multiview_is_chosen_on_validation_not_test(results):
    best, val = best_multiview(results)
    assert best == "rec + cos- sample"
    assert val.index[0] == best and val.loc[best, "seeds"] == 3
    # on test, masking is better: the choice must not follow it
    test_means = results.groupby("config")["source_jaccard"].mean()
    assert test_means["rec + mask z_p r=0.4"] > test_means["rec + cos- sample"]
    t1 = tables.table1(results)
    assert "**rec + cos- sample**" in t1.notes
    assert "25% of its 240 test clips have no source at all." in t1.notes
    assert t1.data.loc[0, "source config"] == "rec + cos- sample"
    html = t1._repr_html_()  # what a notebook shows: the display table, no NaN
    assert html.startswith("<table") and "multiview (best)" in html and "nan" not in html.lower()


def test_table1_paired_differences_holm_and_winners(results):
    t1 = tables.table1(results)
    assert list(dict.fromkeys(t1.display.index.get_level_values("configuration"))) == [
        "multiview (best)",
        "singleview AE",
        "contrastive (InfoNCE)",
        "frontend only",
        "supervised",
    ]
    c = t1.comparisons
    assert len(c) == 8  # 4 rows x 2 tasks, one family
    # the estimate is the mean paired per-clip difference over seeds and clips
    a = per_clip_matrix(results, "contrastive (InfoNCE)", "source").to_numpy()
    b = per_clip_matrix(results, "rec + cos- sample", "source").to_numpy()
    row = c[(c.configuration == "contrastive (InfoNCE)") & (c.task == "source")].iloc[0]
    assert row.estimate == pytest.approx((a - b).mean())
    assert row.n_units == 3 and row.n_clips == N_CLIPS
    np.testing.assert_allclose(c.p_holm, holm(c.p))
    # a real gap is found; no gap is not called a win
    assert row.significant and row.winner == "multiview (best)" and row.verdict == "worse"
    same = c[c.configuration == "singleview AE"]
    assert not same.significant.any() and (same.winner == "").all()
    assert t1.display.loc[("singleview AE", "source"), "verdict"] == "not resolved"
    assert t1.display.loc[("contrastive (InfoNCE)", "source"), "verdict"] == "worse"
    # supervised: source from the source-trained run, sensor from the sensor-trained run
    sup = c[(c.configuration == "supervised") & (c.task == "sensor")].iloc[0]
    assert sup.estimate == pytest.approx(0.2, abs=0.06) and sup.winner == "supervised"
    assert t1.display.loc[("supervised", "sensor"), "verdict"] == "better"
    assert t1.display.loc[("multiview (best)", "source"), "Δ [95% CI]"] == "reference"
    # the test sensors are the clusters: 12 sensors of 20 clips in the fixture
    assert (c.n_clusters == 12).all() and (c.procedure == "cluster").all()


def test_every_row_has_its_own_mdd_and_the_notes_give_median_and_range(results):
    t1 = tables.table1(results)
    c = t1.comparisons
    # each row's MDD at Holm's strictest level α/m, with its own SE and t degrees of freedom
    for r in c.itertuples():
        assert r.mdd == pytest.approx(mdd(r.se, 0.05 / 8, 0.8, df=r.df))
    src = c[c.task == "source"]
    assert t1.mdd["source"] == pytest.approx(
        {"median": src.mdd.median(), "min": src.mdd.min(), "max": src.mdd.max()}
    )
    assert (
        f"per-row MDD median {src.mdd.median():.3f}, range {src.mdd.min():.3f}–"
        f"{src.mdd.max():.3f}" in t1.notes
    )
    assert "0.0063" in t1.notes  # 0.05 / 8
    # the widest row is named with the two parts of its SE
    worst = src.loc[src.mdd.idxmax()]
    assert f"largest: {worst.configuration}, SE {worst.se:.4f}" in t1.notes
    assert 0 < worst.se_units < worst.se and 0 < worst.se_sensors < worst.se
    # the main table shows the row's MDD in its own column
    shown = t1.display.loc[(worst.configuration, "source"), "MDD"]
    assert shown == f"{worst.mdd:.3f}"
    assert "No comparison's SE is dominated by one unit." in t1.notes


def test_a_collapsed_run_is_named_as_dominating_its_comparison(results):
    df = results.copy()
    # seed 2 of "singleview AE" collapsed: its scores fall to 0 on every clip
    bad = (df.config == "singleview AE") & (df.seed == 2)
    run = df.loc[bad, "run_dir"].iloc[0]
    pred = dict(np.load(f"{run}/predictions.npz"))
    collapsed = run + "-collapsed"
    import shutil

    shutil.copytree(run, collapsed)
    pred["joint.sensor.test.score"] = np.zeros_like(pred["joint.sensor.test.score"])
    buf = io.BytesIO()
    np.savez(buf, **pred)
    (Path(collapsed) / "predictions.npz").write_bytes(buf.getvalue())
    res = json.loads((Path(collapsed) / "results.json").read_text())
    res["predictions"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (Path(collapsed) / "results.json").write_text(json.dumps(res))
    df.loc[bad, "run_dir"] = collapsed
    t1 = tables.table1(df)
    dom = dominated(t1.comparisons)
    assert list(zip(dom.configuration, dom.task, dom.dominating_seed)) == [
        ("singleview AE", "sensor", 2)
    ]
    assert "SE dominated by one unit (an unstable run?): singleview AE (sensor): seed 2" in (
        t1.notes
    )


def test_main_table_fits_the_text_column_and_secondary_metrics_move_out(results):
    for t in (tables.table1(results), tables.table2(results, (0.4,))):
        assert list(t.display.columns) == MAIN_COLUMNS
        assert t.display.index.names == ["configuration", "task"]  # 7 columns in all
        html = t._repr_html_()
        # each CI goes on a second line under its estimate, so that no line of a cell is
        # longer than a CI: 5 data columns of at most 16 characters and the two index
        # levels fit the ~700-pixel text column (checked in Chromium at 700 px: no scroll)
        assert html.count("<br>[") == len(t.display) + len(t.comparisons)  # scores and Δs
        lines = [part for v in t.display.to_numpy().ravel() for part in v.split(" [")]
        assert max(len(x.strip("[]")) for x in lines) <= 16, max(lines, key=len)
        for col in ("source micro AUPRC", "source Jaccard (empty=0)", "paper source"):
            assert col in t.secondary.columns and col not in t.display.columns


def test_cells_without_a_value_show_a_dash_never_nan(results):
    t2 = tables.table2(results, mask_ratios=(0.4, 0.8))
    html = t2.display.to_html()
    assert "nan" not in html.lower()
    # r=0.8 was not run: no row; r=0.4 has a paper value; cos+ batch has one too
    assert "rec + mask z_p r=0.8" not in t2.display.index.get_level_values(0)
    assert t2.secondary.loc["rec", "paper sensor"] == "0.739"
    assert t2.secondary.loc["rec", "source macro AUPRC"] == DASH  # null in results
    assert "nan" not in t2.secondary.to_html().lower()
    t1 = tables.table1(results)
    assert "nan" not in t1.display.to_html().lower()
    assert len(t2.comparisons) == 2 * 5


def test_tables_refuse_mixed_frontends(results):
    df = results.copy()
    df.loc[0, "frontend"] = "dac"
    with pytest.raises(AssertionError, match="mix frontends"):
        tables.table1(df)


def test_csv_has_every_row_with_provenance_and_no_nan(results, tmp_path):
    t1 = tables.table1(results)
    out = write_csv(t1, tmp_path / "tables")
    assert out == tmp_path / "tables" / "table1.csv"
    text = out.read_text()
    assert "nan" not in text.lower()
    csv = pd.read_csv(out)
    assert list(csv["configuration"]) == list(t1.secondary.index)
    for col in ("seeds", "profile", "git_commit", "frontend", "weights", "data"):
        assert col in csv, col
    assert (csv["seeds"] == "0 1 2").all() and (csv["git_commit"] == "abc123").all()
    assert (csv["frontend"] == "logmel").all() and (csv["profile"] == "ci").all()
    assert csv.loc[0, "source_config"] == "rec + cos- sample"
    c = t1.comparisons.set_index(["configuration", "task"])
    assert csv["delta_source_mdd"].iloc[1] == pytest.approx(
        c.loc[("singleview AE", "source"), "mdd"], rel=1e-5
    )
    assert math.isnan(csv["delta_source_mdd"].iloc[0])  # the reference has no comparison
    for col in (
        "source_jaccard",
        "delta_source_estimate",
        "delta_sensor_p_holm",
        "delta_sensor_df",
    ):
        assert col in csv, col
    assert math.isnan(csv.loc[0, "delta_source_p_holm"])  # reference: empty cell
    assert (tmp_path / "tables" / "table1.notes.md").read_text().startswith("The multiview")
    # a rewrite goes into the folder mvlib made; a user's folder is refused
    write_csv(t1, tmp_path / "tables")
    (tmp_path / "mine").mkdir()
    with pytest.raises(MvlibError, match="not created by mvlib"):
        write_csv(t1, tmp_path / "mine")


def test_reading_states_claims_with_corrected_tests(results):
    t1 = tables.table1(results)
    text = reading(results, t1)
    assert "InfoNCE on same-sensor pairs is weaker than it on both tasks — **holds here**" in text
    assert "beats the single-view autoencoder on both tasks — **not resolved here**" in text
    # the fixture's supervised row is better than the best multi-view: not a paper claim,
    # but a claim contradicted by a significant opposite difference says so
    assert (
        claims.claim_line("x", [(-0.1, True), (0.2, True)], "d")
        == "* x — **contradicted here** (d)."
    )
    assert claims.claim_line("x", [(0.1, True), (0.2, True)], "d") == "* x — **holds here** (d)."
    assert claims.claim_line("x", None, "") == "* x — **not measured**."
    assert "Separation (cos−) beats similarity (cos+)" in text and "Holm p" in text
    assert "chosen on validation: **rec + cos- sample**" in text
    # fixture: z_s - z_p on the sensor task is the same per-clip score for rec and mask
    assert "Masking z_p pushes sensor information into z_s" in text and "r=0.4: Δ" in text


def test_reading_names_too_few_units_where_that_is_the_verdict(results):
    # issue 26: a row whose units cannot carry a verdict read "Holm p 0.021, not
    # significant" beside the table's "too few units"; the reading must say why instead
    t1 = tables.table1(results)
    c = t1.comparisons.copy()
    row = (c.configuration == "contrastive (InfoNCE)") & (c.task == "sensor")
    assert c.loc[row, "p_holm"].item() < 0.05  # significant on its own p
    c.loc[row, ["resolvable", "significant"]] = False
    c["verdict"] = [verdict(r) for r in c.to_dict("records")]
    assert c.loc[row, "verdict"].item() == "too few units"
    text = claims.reading(results, replace(t1, comparisons=c))
    line = next(ln for ln in text.splitlines() if "InfoNCE on same-sensor pairs" in ln)
    sensor = line.split("sensor: ")[1]
    assert "not significant" not in sensor, line
    assert "too few units for a verdict (the spread of its 3 units dominates" in sensor, line
    assert "fewer than 3 degrees of freedom" in sensor, line
    assert "**not resolved here**" in line  # the claim rests on a test without a verdict


def test_load_results_reads_summaries_and_provenance(tmp_path):
    (tmp_path / "a").mkdir()
    payload = {"summary": {"seed": 3, "x": 1}, "git_commit": "c0ffee"}
    (tmp_path / "a" / "results.json").write_text(json.dumps(payload))
    df = load_results([tmp_path / "a", tmp_path / "missing"])
    assert df.to_dict("records") == [
        {"seed": 3, "x": 1, "run_dir": str(tmp_path / "a"), "git_commit": "c0ffee"}
    ]


def test_figure2_data_has_overall_and_dsc_with_cis(results):
    data = figure2_data(results)
    mv = data[data.config != "frontend only"]
    assert set(mv.config) == {k for k in EFFECTS if k.startswith("rec")}
    assert set(data.task) == {"source", "sensor"} and len(data) == 2 * 7
    r = data[(data.config == "rec + cos- sample") & (data.task == "source")].iloc[0]
    src = per_clip_matrix(results, "rec + cos- sample", "source").to_numpy()
    assert r.overall == pytest.approx(src.mean()) and r.overall_low < r.overall < r.overall_high
    assert r.dsc == pytest.approx(0.1) and r.group == "cos"  # z_p - z_s = 0.1 by construction
    sen = data[(data.config == "rec") & (data.task == "sensor")].iloc[0]
    assert sen.dsc > 0.2 and sen.paper == 0.739
    base = data[data.config == "frontend only"]
    assert len(base) == 2 and base.dsc.isna().all()


@pytest.mark.parametrize("chapter", ["04_ablations.ipynb", "06_label_efficiency.ipynb"])
def test_chapters_offer_their_csv_without_writing_beside_themselves(chapter):
    # the CSV goes to the cache (tables_dir None) and the link carries it in the page
    nb = json.loads((Path(__file__).parents[2] / "book" / chapter).read_text())
    text = {
        k: "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == k)
        for k in ("markdown", "code")
    }
    assert "tables_dir = None" in text["code"] and '"_tables"' not in text["code"]
    assert "{download}" not in text["markdown"] and "_tables/" not in text["markdown"]
    assert "export.download_link(" in text["code"]
    assert "write_csv(" in text["code"] or "write_frame(" in text["code"]
    assert "export.default_tables_dir(cfg.profile)" in text["code"]
    # plumbing (set-up, generated prose) hides its input; the chapter imports the public API
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and ("import " in src or src.startswith("display(Markdown(")):
            assert "hide-input" in c["metadata"].get("tags", []), src[:60]
    assert "from mvlib import load_config, run_sweep, sweep" in text["code"]
    # no figure typed into the prose: numbers in the text are computed by prose cells
    assert "prose." in text["code"]
    for typed in ("0.05–0.09", "76.6 min", "0.028", "About a quarter"):
        assert typed not in text["markdown"], typed


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
    t = training_summary(pd.DataFrame(rows))
    assert list(t.index) == ["rec", "rec + cos- sample"]  # no training: no row
    assert t.loc["rec", "runs"] == 2 and t.loc["rec", "best epoch (range)"] == "10–15"
    assert t.loc["rec", "best epoch (median)"] == 12.5 and t.loc["rec", "stopped early"] == 1
    assert t.loc["rec", "best before last"] == 1  # 10 of 13; the other's best is its last
    assert t.loc["rec + cos- sample", "best before last"] == 1
    assert t.loc["rec + cos- sample", "epochs run (median)"] == 15
    empty = training_summary(pd.DataFrame(rows[-1:]))
    assert len(empty) == 0 and "best before last" in empty.columns


def test_probability_of_best_on_validation_sums_to_one_and_follows_the_gap(results):
    best, val = best_multiview(results)
    p = best_probabilities(results, list(val.index), n_boot=400)
    assert list(p.index) == list(val.index) and p.sum() == pytest.approx(1.0)
    # the fixture's validation scores are constant per configuration: the best always wins
    assert p[best] == 1.0
    sensors = clip_sensors(results, "val")
    assert len(set(sensors.values())) == 4  # 20 validation clips from 4 sensors
