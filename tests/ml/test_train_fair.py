"""Fair training: early stopping with patience, one optimiser budget, run folders not reused."""

import json
import math

import pytest
import torch
from test_train import _cfg, _store
from toy_clips import toy_clips

from mvlib.core.errors import MvlibError
from mvlib.core.runconfig import RunConfigMismatch
from mvlib.data.splits.make import make_splits
from mvlib.ml import batches, runs, train


@pytest.fixture()
def toy(tmp_path):
    clips = toy_clips()
    return clips, _store(tmp_path / "store", clips)


def _scripted_val(monkeypatch, values):
    """Make validation losses follow ``values`` epoch by epoch (training runs for real)."""
    real = train._run_epoch

    def run(model, loader, cfg, device, optimizer=None, epoch=0, bar=None, schedule=None):
        out = real(model, loader, cfg, device, optimizer, epoch, bar, schedule)
        if optimizer is None:
            out = {**out, "total": values[epoch]}
        return out

    monkeypatch.setattr(train, "_run_epoch", run)


def test_early_stopping_keeps_the_best_val_epoch_and_stops_after_patience(
    toy, tmp_path, monkeypatch
):
    clips, store = toy
    cfg = _cfg(**{"train.epochs": 12, "train.patience": 2})
    splits = make_splits(clips, cfg.split)
    _scripted_val(monkeypatch, [5.0, 4.0, 3.0, 3.5, 2.5, 1.0, 2.0, 2.0, 0.5, 0.4, 0.3, 0.2])
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "r", progress=False)
    # best at epoch 5; epochs 6 and 7 do not improve: stop before epoch 8
    assert res.best_epoch == 5 and res.epochs_run == 8
    done = json.loads((res.run_dir / "done.json").read_text())
    assert done["stopped_early"] and done["epochs_run"] == 8
    assert list(res.history[res.history.split == "val"]["epoch"]) == list(range(8))
    best = runs.load_checkpoint(res.run_dir / "checkpoints" / "best.pt")
    assert best["epoch"] == 5 and best["val_total"] == 1.0
    # a run killed after its stopping epoch resumes into the same stop, not into more epochs
    (res.run_dir / "done.json").unlink()
    again = train.train(cfg, clips, splits, store, run_dir=res.run_dir, progress=False)
    assert (again.best_epoch, again.epochs_run) == (5, 8)


def test_min_delta_counts_a_slow_tail_as_a_plateau(toy, tmp_path, monkeypatch):
    clips, store = toy
    cfg = _cfg(**{"train.epochs": 10, "train.patience": 2, "train.min_delta": 0.01})
    # epoch 2 lowers 9.0 by 0.6% only, epoch 3 by 0.8%: neither counts; stop before epoch 4
    _scripted_val(monkeypatch, [10.0, 9.0, 8.95, 8.93, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    res = train.train(
        cfg, clips, make_splits(clips, cfg.split), store, run_dir=tmp_path / "r", progress=False
    )
    assert (res.best_epoch, res.epochs_run, res.best_val) == (1, 4, 9.0)
    assert train._better(8.0, float("inf"), 0.5) and not train._better(9.0, 9.0, 0.0)
    assert train._better(-1.2, -1.0, 0.1) and not train._better(-1.05, -1.0, 0.1)


def test_no_patience_runs_every_epoch(toy, tmp_path, monkeypatch):
    clips, store = toy
    cfg = _cfg(**{"train.epochs": 4, "train.patience": None})
    _scripted_val(monkeypatch, [1.0, 2.0, 3.0, 4.0])
    res = train.train(
        cfg, clips, make_splits(clips, cfg.split), store, run_dir=tmp_path / "r", progress=False
    )
    assert (res.best_epoch, res.epochs_run) == (0, 4)


@pytest.mark.parametrize("method", ["multiview", "singleview", "contrastive", "supervised"])
def test_every_method_gets_the_same_optimiser_budget(toy, tmp_path, monkeypatch, method):
    clips, store = toy
    steps = {"n": 0}
    real = train.model_loss

    def counting(model, batch, objective, gather=None):
        steps["n"] += torch.is_grad_enabled()
        return real(model, batch, objective, gather)

    monkeypatch.setattr(train, "model_loss", counting)
    cfg = _cfg(**{"model.method": method, "train.epochs": 3, "train.steps_per_epoch": 7})
    res = train.train(
        cfg, clips, make_splits(clips, cfg.split), store, run_dir=tmp_path / method, progress=False
    )
    assert steps["n"] == 3 * 7
    done = json.loads((res.run_dir / "done.json").read_text())
    assert done["optimiser_steps"] == 21 and done["steps_per_epoch"] == 7


def test_fixed_steps_cycle_deterministically(toy):
    clips, store = toy
    loader = batches.BatchLoader(store, list(range(10)), batch_size=4, seed=3)  # 3 batches a pass
    fixed = batches.FixedSteps(loader, 7)
    fixed.set_epoch(2)
    a = [b["x"] for b in fixed]
    fixed.set_epoch(2)
    b = [b["x"] for b in fixed]
    assert len(a) == 7 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_run_folder_of_another_config_is_refused_not_reused(toy, tmp_path):
    clips, store = toy
    cfg = _cfg()
    splits = make_splits(clips, cfg.split)
    run = tmp_path / "run"
    train.train(cfg, clips, splits, store, run_dir=run, progress=False)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    other = cfg.replace({"objective.objective": "cos_minus", "train.lr": 0.01})
    with pytest.raises(RunConfigMismatch) as err:
        train.train(other, clips, splits, store, run_dir=run, progress=False)
    line = err.value.line()
    assert str(run) in line and "holds a run of another config" in line
    assert "objective.objective='rec' (asked 'cos_minus')" in line and "train.lr" in line
    assert "another run folder" in line
    assert isinstance(err.value, MvlibError)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # the same config is reused as before
    assert train.train(cfg, clips, splits, store, run_dir=run, progress=False).best_epoch >= 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("patience", 0),
        ("steps_per_epoch", 0),
        ("min_delta", -0.1),
        ("min_delta", 1.0),
    ],
)
def test_budget_fields_are_range_checked(toy, tmp_path, field, value):
    clips, store = toy
    cfg = _cfg(**{f"train.{field}": value})
    with pytest.raises(MvlibError, match=f"train.{field}: {value!r} is out of range"):
        train.train(
            cfg, clips, make_splits(clips, cfg.split), store, run_dir=tmp_path / "r", progress=False
        )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("field, value", [("schedule", "linear"), ("warmup_steps", -1)])
def test_schedule_fields_are_range_checked(field, value):
    with pytest.raises(MvlibError, match=f"train.{field}: {value!r} is out of range"):
        _cfg(**{f"train.{field}": value})


def test_cosine_schedule_warms_up_then_decays_to_zero_at_the_budget_end():
    cfg = _cfg(**{"train.epochs": 4, "train.lr": 0.01, "train.schedule": "cosine"})
    cfg = cfg.replace({"train.warmup_steps": 5})
    lrs = [train.lr_at(cfg, k, 10) for k in range(40)]  # budget: 4 epochs x 10 steps
    assert lrs[:5] == pytest.approx([0.002, 0.004, 0.006, 0.008, 0.01])  # linear warm-up
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # then never rises
    # cosine: half the peak halfway through the decay (step 5 + 35/2), ~0 at the last step
    assert train.lr_at(cfg, 22.5, 10) == pytest.approx(0.005)
    assert lrs[-1] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 34 / 35)))
    assert lrs[-1] < 1e-4
    const = cfg.replace({"train.schedule": "constant"})
    assert {train.lr_at(const, k, 10) for k in range(40)} == {0.01}


def test_the_optimiser_follows_the_schedule_and_a_resumed_run_continues_it(
    toy, tmp_path, monkeypatch
):
    clips, store = toy
    over = {"train.epochs": 3, "train.schedule": "cosine", "train.steps_per_epoch": 4}
    cfg = _cfg(**over).replace({"train.warmup_steps": 2})
    splits = make_splits(clips, cfg.split)
    seen = []
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    full = train.train(cfg, clips, splits, store, run_dir=tmp_path / "full", progress=False)
    assert seen == pytest.approx([train.lr_at(cfg, k, 4) for k in range(12)])

    real = train._run_epoch

    def dying(model, loader, cfg_, device, optimizer=None, epoch=0, bar=None, schedule=None):
        if optimizer is not None and epoch == 2:
            raise KeyboardInterrupt("killed")
        return real(model, loader, cfg_, device, optimizer, epoch, bar, schedule)

    monkeypatch.setattr(train, "_run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, clips, splits, store, run_dir=tmp_path / "killed", progress=False)
    monkeypatch.setattr(train, "_run_epoch", real)
    seen.clear()
    resumed = train.train(cfg, clips, splits, store, run_dir=tmp_path / "killed", progress=False)
    assert seen == pytest.approx([train.lr_at(cfg, k, 4) for k in range(8, 12)])
    a = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
