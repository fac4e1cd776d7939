"""The sweep: grid declaration, skipping finished runs, surviving failures, tables."""

import json

import numpy as np
import pandas as pd
import pytest

from mvlib import config, sweep
from mvlib.cache import atomic_write_json


@pytest.fixture()
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    return config.load_config("ci")


def test_grid_holds_tables_1_and_2():
    names = [e.name for e in sweep.grid((0.2, 0.4, 0.6, 0.8))]
    assert len(names) == len(set(names)) == 13
    for n in (
        "rec",
        "rec + cos- sample",
        "rec + cos- batch",
        "rec + cos+ sample",
        "rec + cos+ batch",
        "rec + mask z_p r=0.2",
        "rec + mask z_p r=0.8",
        "singleview AE",
        "contrastive (InfoNCE)",
        "supervised source",
        "supervised sensor",
    ):
        assert n in names
    e = {x.name: x for x in sweep.grid()}
    assert e["rec + cos- batch"].overrides()["objective.objective"] == "cos_minus"
    assert e["rec + cos- batch"].overrides()["objective.level"] == "batch"
    assert e["supervised sensor"].overrides()["model.supervised_task"] == "sensor"


def test_run_dirs_differ_per_entry_and_seed(cfg):
    dirs = {sweep.run_dir_of(cfg, e, s) for e in sweep.grid() for s in (0, 1)}
    assert len(dirs) == 2 * len(sweep.grid())


def _fake_executor(fail_name=None, calls=None):
    def run(profile, entry, seed, run_dir, overrides):
        calls.append((entry.name, seed))
        if entry.name == fail_name:
            return {
                "name": entry.name,
                "seed": seed,
                "run_dir": run_dir,
                "status": "failed",
                "error": "boom",
            }
        atomic_write_json(f"{run_dir}/results.json", {"summary": {"seed": seed}})
        return {"name": entry.name, "seed": seed, "run_dir": run_dir, "status": "done"}

    return run


def test_sweep_skips_finished_runs_and_survives_a_failure(cfg):
    entries = sweep.grid((0.4,))[:4]
    calls = []
    st = sweep.run_sweep(
        cfg,
        entries,
        seeds=[0, 1],
        progress=False,
        workers=1,
        executor=_fake_executor(entries[1].name, calls),
    )
    assert len(calls) == 8
    assert (st.status == "failed").sum() == 2 and (st.status == "done").sum() == 6
    calls.clear()
    st = sweep.run_sweep(
        cfg, entries, seeds=[0, 1], progress=False, workers=1, executor=_fake_executor(None, calls)
    )
    # only the failed entry is run again
    assert sorted(calls) == [(entries[1].name, 0), (entries[1].name, 1)]
    assert (st.status == "skipped (done)").sum() == 6


def _results(n_seeds=3):
    rng = np.random.default_rng(0)
    rows = []
    for name, base in (
        ("rec", 0.6),
        ("rec + cos- sample", 0.65),
        ("singleview AE", 0.55),
        ("frontend only", 0.5),
        ("contrastive (InfoNCE)", 0.3),
        ("supervised source", 0.7),
        ("supervised sensor", 0.4),
    ):
        for s in range(n_seeds):
            rows.append(
                {
                    "config": name,
                    "seed": s,
                    "frontend": "logmel",
                    "source_jaccard": base + 0.01 * rng.normal(),
                    "sensor_accuracy": base + 0.1 + 0.01 * rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def test_tables_show_mean_ci_paired_tests_and_the_papers_numbers():
    df = _results()
    t1 = sweep.table1(df)
    assert list(t1.index) == [
        "multiview (best)",
        "singleview AE",
        "contrastive (InfoNCE)",
        "frontend only",
        "supervised",
    ]
    vals = df[df.config == "rec + cos- sample"].source_jaccard
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * vals.std(ddof=1) / np.sqrt(3)
    assert t1.loc["multiview (best)", "source Jaccard"] == f"{vals.mean():.3f} ± {half:.3f}"
    assert t1.loc["multiview (best)", "paper source"] == 0.633
    # supervised: source from the source-trained run, sensor from the sensor-trained run
    sup = df[df.config == "supervised sensor"].sensor_accuracy.mean()
    assert t1.loc["supervised", "sensor accuracy"].startswith(f"{sup:.3f}")
    assert t1.loc["multiview (best)", "Δ source (p)"].startswith("+0.1")
    t2 = sweep.table2(df, mask_ratios=(0.4,))
    assert "rec" in t2.index and t2.loc["rec", "paper sensor"] == 0.739


def test_tables_refuse_mixed_frontends():
    df = _results()
    df.loc[0, "frontend"] = "dac"
    with pytest.raises(AssertionError, match="mix frontends"):
        sweep.table1(df)


def test_load_results_reads_summaries(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps({"summary": {"seed": 3, "x": 1}}))
    df = sweep.load_results([tmp_path / "a", tmp_path / "missing"])
    assert df.to_dict("records") == [{"seed": 3, "x": 1, "run_dir": str(tmp_path / "a")}]


def test_reading_states_direction_and_significance():
    text = sweep.reading(_results())
    assert "beats the single-view autoencoder" in text
    assert "paired p =" in text
    # InfoNCE is made the weakest in _results()
    assert "InfoNCE on same-sensor pairs is the weakest method" in text and "holds here" in text
