"""Runs that cannot mislead: resume after a crash, unsafe checkpoints, probe refusals, strict JSON."""

import json
import shutil

import pandas as pd
import pytest
import torch
from test_train import _cfg, _store
from toy_clips import toy_clips

from mvlib.cli import main
from mvlib.core.cache import atomic_write_json
from mvlib.core.errors import MvlibError
from mvlib.data.splits.leakage import SplitsMismatchError
from mvlib.data.splits.make import make_splits
from mvlib.embed import stored
from mvlib.evaluate.probe.run import probe_trained_run
from mvlib.evaluate.probe.runcheck import NotARunError, RunStateError
from mvlib.ml import runs, train


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """A finished toy run; the dataset the probe loads is the toy clip table."""
    clips = toy_clips()
    store = _store(tmp_path / "store", clips)
    cfg = _cfg(**{"probe.epochs": 5, "probe.weight_decays": [0.0001]})
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "run", progress=False)
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=True: clips)
    return res.run_dir, cfg, clips, splits, store


def test_crash_between_log_row_and_checkpoint_leaves_no_duplicate_epochs(tmp_path, monkeypatch):
    clips = toy_clips()
    store = _store(tmp_path / "store", clips)
    cfg = _cfg(**{"train.epochs": 3})
    splits = make_splits(clips, cfg.split)
    full = train.train(cfg, clips, splits, store, run_dir=tmp_path / "full", progress=False)
    real = train.save_checkpoint

    def dying(path, payload):
        if path.name == "last.pt" and payload["epoch"] == 1:
            raise KeyboardInterrupt("killed after the losses row of epoch 1 was written")
        return real(path, payload)

    monkeypatch.setattr(train, "save_checkpoint", dying)
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, clips, splits, store, run_dir=tmp_path / "k", progress=False)
    logged = pd.read_csv(tmp_path / "k" / "losses.csv")
    assert logged["epoch"].max() == 1  # the row is there, its checkpoint is not
    monkeypatch.setattr(train, "save_checkpoint", real)
    resumed = train.train(cfg, clips, splits, store, run_dir=tmp_path / "k", progress=False)
    hist = resumed.history
    assert list(hist["epoch"]) == [0, 0, 1, 1, 2, 2]
    assert not hist.duplicated(["epoch", "split"]).any()
    pd.testing.assert_frame_equal(
        hist.drop(columns="seconds"), full.history.drop(columns="seconds")
    )


def test_resume_refuses_another_config_and_changed_splits(tmp_path, monkeypatch):
    clips = toy_clips()
    store = _store(tmp_path / "store", clips)
    cfg = _cfg(**{"train.epochs": 3})
    splits = make_splits(clips, cfg.split)
    monkeypatch.setattr(train, "_run_epoch", _dies_at(train._run_epoch, 1))
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, clips, splits, store, run_dir=tmp_path / "k", progress=False)
    monkeypatch.undo()
    with pytest.raises(runs.RunConfigError, match="run of another config"):
        train.train(cfg.replace({"train.lr": 0.01}), clips, splits, store, tmp_path / "k")
    other = make_splits(clips, cfg.split.__class__(**{**vars(cfg.split), "seed": 5}))
    with pytest.raises(runs.RunConfigError, match="splits changed since this run started"):
        train.train(cfg, clips, other, store, run_dir=tmp_path / "k", progress=False)


def _dies_at(real, epoch):
    def dying(model, loader, cfg_, device, optimizer=None, epoch_=0, bar=None, schedule=None):
        if optimizer is not None and epoch_ == epoch:
            raise KeyboardInterrupt("killed")
        return real(model, loader, cfg_, device, optimizer, epoch_, bar, schedule)

    return dying


class _NotAWeight:
    pass


def test_checkpoint_that_safe_loading_rejects_is_named_without_torch_advice(tmp_path, capsys):
    bad = tmp_path / "evil.pt"
    torch.save({"config": {}, "model": _NotAWeight()}, bad)
    with pytest.raises(runs.CheckpointError) as e:
        runs.load_checkpoint(bad)
    line = e.value.line()
    assert line.startswith(f"{bad}: holds objects other than tensors")
    assert "weights_only=False" not in line and "weights_only set to False" not in line
    assert e.value.__cause__ is None and e.value.__suppress_context__
    trunc = tmp_path / "trunc.pt"
    good = tmp_path / "good.pt"
    torch.save({"config": {}, "model": {}}, good)
    trunc.write_bytes(good.read_bytes()[:100])
    with pytest.raises(runs.CheckpointError, match="truncated or corrupt"):
        runs.load_checkpoint(trunc)
    with pytest.raises(runs.CheckpointError, match="no such checkpoint"):
        runs.load_checkpoint(tmp_path / "absent.pt")


def test_probe_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert main(["probe", str(tmp_path / "x"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"mvlib: error: {tmp_path / 'x'}: not a training run: no config.yaml or "
        "checkpoints/best.pt; give a run folder made by `mvlib train` (it prints the folder "
        "at its end)"
    )
    assert main(["probe", str(tmp_path / "nope"), "-q"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_probe_refuses_an_unfinished_run_unless_asked(run, capsys):
    run_dir = run[0]
    (run_dir / "done.json").unlink()
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(RunStateError, match=r"has not finished \(2 epoch\(s\) so far\)"):
        probe_trained_run(run_dir, progress=False)
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written
    out = probe_trained_run(run_dir, progress=False, allow_unfinished=True)
    assert out["summary"]["finished"] is False
    assert "unfinished run (2 of 2 epochs" in out["summary"]["unfinished"]


def test_probe_refuses_a_checkpoint_of_another_config(run, tmp_path):
    run_dir, cfg, clips, splits, store = run
    other = train.train(
        cfg.replace({"train.seed": 9}), clips, splits, store, tmp_path / "o", progress=False
    )
    shutil.copy(other.run_dir / "checkpoints" / "best.pt", run_dir / "checkpoints" / "best.pt")
    with pytest.raises(RunStateError, match=r"another config .*train\.seed") as e:
        probe_trained_run(run_dir, progress=False)
    assert e.value.culprit == str(run_dir / "checkpoints" / "best.pt")
    assert not (run_dir / "results.json").exists()


def test_saved_splits_are_rechecked_against_the_clip_table(run, monkeypatch):
    run_dir, cfg, clips, *_ = run
    fewer = clips.iloc[:-3].reset_index(drop=True)
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=True: fewer)
    with pytest.raises(SplitsMismatchError, match="do not fit the dataset's current clip table"):
        probe_trained_run(run_dir, progress=False)


def test_results_json_is_strict_and_names_undefined_values(run, monkeypatch):
    run_dir, cfg, clips, *_ = run
    no_dog = clips.assign(**{"8_dog": 0})  # a class without a test positive: AUPRC undefined
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=True: no_dog)
    out = probe_trained_run(run_dir, progress=False)
    text = (run_dir / "results.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert data["undefined"] == out["undefined"]
    assert "metrics.joint.source.class_auprc[7]" in data["undefined"]
    for path in data["undefined"]:
        assert "class_auprc" in path, path
    src = data["metrics"]["joint"]["source"]
    assert src["class_auprc"][7] is None and src["n_classes_no_positive"] >= 1
    assert all(a is None or 0 <= a <= 1 for a in src["class_auprc"])
    assert "class without a test positive" in data["undefined_note"]
    with pytest.raises(ValueError, match="NaN/inf is not valid JSON"):
        atomic_write_json(run_dir / "x.json", {"a": float("nan")})
    assert not (run_dir / "x.json").exists()


def test_run_errors_are_mvlib_errors():
    for cls in (runs.CheckpointError, runs.RunConfigError, NotARunError):
        assert issubclass(cls, MvlibError)
