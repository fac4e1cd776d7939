"""The sweep: grid declaration, skipping finished runs, surviving failures, tables."""

import contextlib
import json
import multiprocessing
import threading
import time

import pytest

from mvlib import sweep
from mvlib.core import config, ownedlock, runconfig
from mvlib.core.cache import atomic_write_json


@pytest.fixture()
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    return config.read_profile("ci")


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


def _fake_executor(fail_name=None, calls=None, tamper=None):
    """Stands in for a worker: reads the handed config file, saves it as the run's config."""

    def run(config_path, entry, seed, run_dir):
        calls.append((entry.name, seed))
        if entry.name == fail_name:
            return {
                "name": entry.name,
                "seed": seed,
                "run_dir": run_dir,
                "status": "failed",
                "error": "boom",
            }
        cfg = runconfig.load_resolved(config_path)
        config.save_yaml(cfg.replace(tamper or {}), f"{run_dir}/config.yaml")
        atomic_write_json(f"{run_dir}/results.json", {"summary": {"seed": seed}})
        return {"name": entry.name, "seed": seed, "run_dir": run_dir, "status": "done"}

    return run


def _sweep(cfg, entries, executor, seeds=(0, 1)):
    return sweep.run_plan(
        cfg, entries, seeds=list(seeds), progress=False, workers=1, executor=executor, prepare=False
    )


def test_sweep_skips_finished_runs_and_survives_a_failure(cfg):
    entries = sweep.grid((0.4,))[:4]
    calls = []
    st = _sweep(cfg, entries, _fake_executor(entries[1].name, calls))
    assert len(calls) == 8
    assert (st.status == "failed").sum() == 2 and (st.status == "done").sum() == 6
    calls.clear()
    st = _sweep(cfg, entries, _fake_executor(None, calls))
    # only the failed entry is run again
    assert sorted(calls) == [(entries[1].name, 0), (entries[1].name, 1)]
    assert (st.status == "skipped (done)").sum() == 6


def test_each_run_is_handed_its_whole_resolved_config(cfg, tmp_path):
    """Overrides the profile does not hold (data.source, data.root, train.*) reach the run."""
    cfg = cfg.replace({"data.source": "sonyc", "data.root": str(tmp_path / "d"), "train.lr": 0.02})
    seen = []

    def run(config_path, entry, seed, run_dir):
        seen.append((runconfig.load_resolved(config_path), entry, seed, run_dir))
        return _fake_executor(None, [])(config_path, entry, seed, run_dir)

    entries = sweep.grid((0.4,))[:2]
    st = _sweep(cfg, entries, run, seeds=[3])
    assert list(st.status) == ["done", "done"]
    for got, entry, seed, run_dir in seen:
        assert got == sweep.run_config(cfg, entry, seed)
        assert got.data.root == str(tmp_path / "d") and got.train.lr == 0.02
        assert got.train.seed == got.probe.seed == got.split.pair_seed == 3
        assert run_dir == str(sweep.run_dir_of(cfg, entry, seed))


def test_a_run_that_saved_another_config_is_a_failed_run(cfg):
    entries = sweep.grid((0.4,))[:1]
    st = _sweep(cfg, entries, _fake_executor(None, [], tamper={"train.epochs": 7}), seeds=[0])
    assert list(st.status) == ["failed"]
    err = st.error.iloc[0]
    assert "ran another config than was asked: train.epochs=7 (asked 2)" in err
    run = sweep.run_dir_of(cfg, entries[0], 0)
    assert "train.epochs=7" in json.loads((run / "failed.json").read_text())["error"]
    # a rerun does not skip it as done: its results.json is of another config
    calls = []
    st = _sweep(cfg, entries, _fake_executor(None, calls), seeds=[0])
    assert list(st.status) == ["failed"] and calls == []


def test_split_seed_axis_and_seeds_vary_pairs(cfg):
    cfg = cfg.replace({"sweep.split_seeds": [0, 5]})
    runs = sweep.plan(cfg, sweep.grid((0.4,))[:1], seeds=[0, 1])
    assert len(runs) == 4 and len({r[4] for r in runs}) == 4
    assert sorted((r[3].split.seed, r[3].split.pair_seed) for r in runs) == [
        (0, 0),
        (0, 1),
        (5, 0),
        (5, 1),
    ]


def test_frontend_results_folder_names_its_config(cfg):
    a = sweep.frontend_dir(cfg, 0)
    assert not a.exists()  # naming a folder does not make it (collect only reads)
    assert a == sweep.frontend_dir(cfg, 0)
    assert a != sweep.frontend_dir(cfg.replace({"probe.epochs": 3}), 0)
    assert a != sweep.frontend_dir(cfg.replace({"synth.seed": 3}), 0)
    assert a != sweep.frontend_dir(cfg, 1)
    assert a == sweep.frontend_dir(cfg.replace({"train.lr": 0.5}), 0)  # training is not used


def test_the_parent_prepares_data_and_store_before_any_worker_starts(cfg, monkeypatch):
    from mvlib import workflow

    events = []

    class Prep:
        clips = None

    def fake_prepare(c, progress=True):
        events.append(("prepare", c))
        return Prep()

    def run(config_path, entry, seed, run_dir):
        events.append("run")
        return _fake_executor(None, [])(config_path, entry, seed, run_dir)

    monkeypatch.setattr(workflow, "prepare", fake_prepare)
    monkeypatch.setattr("mvlib.sweep.make_splits", lambda clips, split: events.append("splits"))
    entries = sweep.grid((0.4,))[:2]
    sweep.run_plan(cfg, entries, seeds=[0], progress=False, workers=1, executor=run)
    assert events == [("prepare", cfg), "splits", "run", "run"]
    events.clear()  # all done: nothing is prepared again
    sweep.run_plan(cfg, entries, seeds=[0], progress=False, workers=1, executor=run)
    assert events == []


def test_a_run_config_that_cannot_be_read_is_a_failed_run_not_a_crash(cfg):
    def run(config_path, entry, seed, run_dir):
        (sweep.Path(run_dir) / "config.yaml").write_text("train: {new_field: 1}\n")
        return {"name": entry.name, "seed": seed, "run_dir": run_dir, "status": "done"}

    st = _sweep(cfg, sweep.grid((0.4,))[:2], run, seeds=[0])
    assert list(st.status) == ["failed", "failed"]
    assert "not a valid resolved config" in st.error.iloc[0]


def test_a_run_trained_alone_with_seeded_config_is_the_sweeps_run(cfg):
    """Chapter 3's run (sweep.seeded) is the sweep's rec run of that seed: same config and
    folder, so the sweep reuses it instead of training it again."""
    from mvlib.ml.runs import default_run_dir

    rec = next(e for e in sweep.grid() if e.name == "rec")
    for seed in (0, 3):
        alone = sweep.seeded(cfg.replace({"train.seed": seed}))
        swept = sweep.run_config(cfg, rec, seed)
        assert config.to_dict(alone) == config.to_dict(swept)
        assert default_run_dir(alone) == sweep.run_dir_of(cfg, rec, seed)
    # without it the pairs follow split.seed: another config, another folder
    plain = cfg.replace({"train.seed": 3})
    assert default_run_dir(plain) != sweep.run_dir_of(cfg, rec, 3)


def test_collect_labels_finished_runs_and_the_frontend_baseline(cfg):
    entries = [e for e in sweep.grid() if e.name in ("rec", "singleview AE")]
    runs = sweep.plan(cfg, entries, [0, 1])
    for e, s, _sp, _rc, rd in runs[:-1]:  # the last run has not finished: no results.json
        atomic_write_json(rd / sweep.RESULTS_FILE, {"summary": {"seed": s, "method": e.name}})
    fe = sweep.frontend_dir(cfg, 0)
    atomic_write_json(fe / sweep.RESULTS_FILE, {"summary": {"seed": 0}, "git_commit": "c0"})
    df = sweep.collect(cfg, entries, [0, 1])
    got = sorted(zip(df.config, df.group, df.seed))
    assert got == [
        ("frontend only", "baseline", 0),
        ("rec", "rec", 0),
        ("rec", "rec", 1),
        ("singleview AE", "baseline", 0),
    ]
    assert df.loc[df.config == "frontend only", "git_commit"].item() == "c0"


def _claim_and_train_some(cfg, jobs, trained, started, stop) -> None:  # in a forked child
    ownedlock._HELD.clear()
    with contextlib.ExitStack() as held:
        for _e, _s, _sp, _rc, rd in jobs:
            held.enter_context(sweep.claim(rd, wait=False))
        started.set()
        time.sleep(0.5)  # mostly while the sweep under test waits for its claims
        for e, s, _sp, rc, rd in jobs[:trained]:  # this "sweep" trains some of its runs
            path = runconfig.save_resolved(rc, rd / "claimed-config.yaml")
            _fake_executor(None, [])(str(path), e, s, str(rd))
        stop.wait(60)


def test_a_sweep_passes_over_runs_another_sweep_claimed_without_starting_workers(cfg, monkeypatch):
    entries = sweep.grid((0.4,))[:2]
    jobs = sweep.plan(cfg, entries, [0, 1])
    fork = multiprocessing.get_context("fork")
    started, stop = fork.Event(), fork.Event()
    other = fork.Process(target=_claim_and_train_some, args=(cfg, jobs, 2, started, stop))
    other.start()
    assert started.wait(60)
    pools = []

    class CountingPool(sweep.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sweep, "ProcessPoolExecutor", CountingPool)
    with pytest.raises(sweep.RunBusyError, match=rf"another sweep \(PID {other.pid} on host"):
        with sweep.claim(jobs[0][4], wait=False):
            pass
    threading.Timer(1.0, stop.set).start()  # the other sweep ends while this one waits
    calls = []
    st = sweep.run_plan(
        cfg,
        entries,
        seeds=[0, 1],
        progress=False,
        workers=2,
        executor=_fake_executor(None, calls),
        prepare=False,
    )
    other.join(60)
    assert pools == []  # every run was claimed: no worker was started for any of them
    # the two the other sweep trained are reused; the two it left are trained here
    assert (st.status == "done").sum() == 2 and st.status.str.startswith("skipped").sum() == 2
    assert sorted(calls) == sorted((e.name, s) for e, s, *_ in jobs[2:])
