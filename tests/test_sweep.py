"""The sweep: grid declaration, skipping finished runs, surviving failures, tables."""

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
