"""Data-parallel training (mvlib.ml.distributed): batch sharding, 2-process gloo DDP, resume."""

import json
import os
import socket
import traceback

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from test_train import D, T  # the same toy store as the training tests
from toy_clips import toy_clips

from mvlib.core import config
from mvlib.data.splits.make import make_splits
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml import batches, distributed, runs, train


def _store(path, clips, seed=0, frames=None):
    """Random latents with a per-sensor offset; clips of varying length when ``frames``."""
    rng = np.random.default_rng(seed)
    header = {"identity": {"frontend": "logmel", "n_mels": D}, "dim": D, "provenance": {}}
    with StoreWriter(path, header) as w:
        for i, r in enumerate(clips.itertuples()):
            t = frames[i % len(frames)] if frames else T
            x = rng.normal(size=(t, D)) + int(r.sensor_id)
            w.append(r.clip_id, x.astype(np.float16), {})
    return LatentStore(path)


def _cfg(**over):
    base = {
        "split.sensor_fractions": [0.5, 0.17, 0.33],
        "split.n_pairs": [44, 13, 16],  # batch 5: ranks get 3 and 2, last batch 4
        "split.downstream_fractions": [0.5, 0.25, 0.25],
        "model.hidden": 32,
        "train.epochs": 2,
        "train.batch_size": 5,
        "train.crop_frames": 8,
        "train.device": "cpu",
        "train.threads": 1,
        "features.n_mels": D,
    }
    base.update(over)
    return config.read_profile("ci", base)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(run_dir, which="last"):
    return runs.load_checkpoint(run_dir / "checkpoints" / f"{which}.pt")["model"]


def _close(a, b, tol=1e-5):
    return all(torch.allclose(a[k], b[k], rtol=tol, atol=tol) for k in a)


# --------------------------------------------------------------------------- no processes


def test_shard_bounds_partition_contiguously():
    for n in range(0, 20):
        for world in range(1, 5):
            parts = [distributed.shard_bounds(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            sizes = [hi - lo for lo, hi in parts]
            assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("crop", [8, None])
@pytest.mark.parametrize("world", [2, 3, 5])
def test_union_of_rank_batches_is_the_one_process_batch(tmp_path, crop, world):
    clips = toy_clips()
    frames = [T, T + 7, T + 13] if crop else None
    store = _store(tmp_path / "s", clips, frames=frames)
    pairs = np.random.default_rng(0).integers(0, len(store), size=(23, 2))
    labels = np.arange(23)
    one = list(
        batches.BatchLoader(store, pairs, batch_size=4, crop_frames=crop, seed=3, labels=labels)
    )
    ranks = []
    for r in range(world):
        loader = batches.BatchLoader(
            store, pairs, batch_size=4, crop_frames=crop, seed=3, labels=labels
        )
        loader.rank, loader.world_size = r, world
        got = []
        for b in loader:
            got.append((b, loader.batch_count, loader.batch_weight))
        ranks.append(got)
    assert all(len(g) == len(one) for g in ranks)
    for step, full in enumerate(one):
        parts = [ranks[r][step] for r in range(world)]
        counts = [c for _, c, _ in parts]
        assert sum(counts) == len(full["y"])
        for key in ("x1", "x2", "y"):
            union = torch.cat([b[key][:c] for b, c, _ in parts if c])
            assert torch.equal(union, full[key]), (step, key)
        # weights average to 1 over ranks: DDP's mean gradient is the global batch's
        assert np.isclose(sum(w for _, _, w in parts) / world, 1.0)
        assert all(w == 0 for _, c, w in parts if c == 0)


def test_one_process_is_untouched_by_the_hooks(tmp_path):
    """Without torchrun's variables the context is rank 0 of 1 and nothing is wrapped."""
    assert not distributed.launched() or "RANK" in os.environ
    with distributed.process_group("cpu") as ctx:
        assert ctx.world_size == 1 and ctx.is_main and not ctx.enabled
        m = torch.nn.Linear(2, 2)
        assert distributed.wrap(m, torch.device("cpu")) is m
        assert distributed.broadcast_object(5) == 5
        assert distributed.main_first(lambda: 7) == 7


def test_incomplete_launch_environment_is_one_line_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(distributed.DistributedConfigError, match="torchrun"):
        with distributed.process_group("cpu"):
            pass


# --------------------------------------------------------------------------- 2 processes


def _worker(rank, world, port, tmp, cfg_dicts, run_name, kill_epoch):
    """One rank: join a gloo group, train, write what happened to <tmp>/rank<r>.json."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    report = {"rank": rank}
    try:
        from pathlib import Path

        tmp = Path(tmp)
        clips = toy_clips()
        store = LatentStore(tmp / "store")
        cfg = config.from_dict(cfg_dicts[rank])
        splits = make_splits(clips, cfg.split)
        if kill_epoch is not None:
            real = train._run_epoch

            def dying(model, loader, cfg_, device, optimizer=None, epoch=0, bar=None, sched=None):
                if optimizer is not None and epoch == kill_epoch:
                    raise KeyboardInterrupt("killed")
                return real(model, loader, cfg_, device, optimizer, epoch, bar, sched)

            train._run_epoch = dying
        with distributed.process_group("cpu") as ctx:
            report["world"] = ctx.world_size
            res = train.train(cfg, clips, splits, store, run_dir=tmp / run_name, progress=False)
            report["best_epoch"] = res.best_epoch
    except KeyboardInterrupt:
        report["killed"] = True
    except Exception as e:  # reported to the test, which asserts on it
        report["error"] = type(e).__name__
        report["message"] = str(e)
        report["traceback"] = traceback.format_exc()
    (tmp / f"rank{rank}.json").write_text(json.dumps(report))


def _spawn(tmp, cfgs, run_name, kill_epoch=None):
    world = len(cfgs)
    dicts = [config.to_dict(c) for c in cfgs]
    mp.spawn(
        _worker, args=(world, _free_port(), str(tmp), dicts, run_name, kill_epoch), nprocs=world
    )
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(world)]


@pytest.fixture()
def toy(tmp_path):
    clips = toy_clips()
    return clips, _store(tmp_path / "store", clips)


@pytest.mark.parametrize(
    "over",
    [
        {"objective.objective": "cos_minus"},
        {"model.method": "singleview", "train.epochs": 1},  # two forwards per step
        # batch-level terms compare every row of the GLOBAL batch (latents all-gathered)
        {"objective.objective": "cos_minus", "objective.level": "batch"},
        # last batch of 1 pair: rank 1 holds a weight-0 filler row, left out of the gather
        {
            "objective.objective": "cos_plus",
            "objective.level": "batch",
            "split.n_pairs": [41, 13, 16],
        },
        {"model.method": "contrastive", "train.epochs": 1},
    ],
    ids=[
        "multiview-cos_minus",
        "singleview",
        "cos_minus-batch",
        "cos_plus-batch-filler",
        "infonce",
    ],
)
def test_two_process_gloo_ddp_equals_one_process_at_the_same_global_batch(toy, tmp_path, over):
    clips, store = toy
    cfg = _cfg(**over)
    splits = make_splits(clips, cfg.split)
    one = train.train(cfg, clips, splits, store, run_dir=tmp_path / "one", progress=False)
    reports = _spawn(tmp_path, [cfg, cfg], "two")
    assert all("error" not in r for r in reports), reports
    assert [r["world"] for r in reports] == [2, 2]
    two = tmp_path / "two"
    assert _close(_weights(one.run_dir), _weights(two))
    assert _close(_weights(one.run_dir, "best"), _weights(two, "best"))
    # the epoch means are over the global batch, reduced over ranks
    h1, h2 = one.history, pd.read_csv(two / "losses.csv")
    assert np.allclose(h1["total"], h2["total"], rtol=1e-5)
    # rank 0 alone wrote; the run states its processes, global batch and learning rate
    prov = json.loads((two / "provenance.json").read_text())["distributed"]
    assert prov["world_size"] == 2 and prov["backend"] == "gloo"
    assert prov["global_batch"] == 5 and prov["per_rank_batch"] == [3, 2]
    assert prov["lr"] == cfg.train.lr
    batch_level = cfg.model.method == "contrastive" or (
        cfg.model.method == "multiview"
        and cfg.objective.objective in ("cos_minus", "cos_plus")
        and cfg.objective.level == "batch"
    )
    assert ("all-gathered" in prov.get("batch_level_terms", "")) == batch_level
    assert not list(two.rglob("*.tmp"))
    assert config.read_profile(two / "config.yaml").train == cfg.train
    # a one-process run's provenance says nothing about processes
    assert "distributed" not in json.loads((one.run_dir / "provenance.json").read_text())


def test_two_process_run_killed_then_resumed_in_one_process(toy, tmp_path):
    clips, store = toy
    cfg = _cfg(**{"train.epochs": 3, "objective.objective": "rec"})
    splits = make_splits(clips, cfg.split)
    full = train.train(cfg, clips, splits, store, run_dir=tmp_path / "full", progress=False)
    reports = _spawn(tmp_path, [cfg, cfg], "killed", kill_epoch=2)
    assert all(r.get("killed") for r in reports), reports
    run = tmp_path / "killed"
    assert not (run / "done.json").exists()
    ckpt = runs.load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["provenance"]["distributed"]["world_size"] == 2
    assert not any(k.startswith("module.") for k in ckpt["model"])  # unwrapped state
    resumed = train.train(cfg, clips, splits, store, run_dir=run, progress=False)
    assert resumed.best_epoch == full.best_epoch
    assert _close(_weights(full.run_dir), _weights(run))
    assert list(resumed.history["epoch"]) == [0, 0, 1, 1, 2, 2]


def test_ranks_with_different_configs_stop_with_one_error(toy, tmp_path):
    cfg = _cfg()
    other = cfg.replace({"train.lr": 0.01})
    reports = _spawn(tmp_path, [cfg, other], "mismatch")
    for r in reports:
        assert r.get("error") == "DistributedConfigError", r
        assert "train.lr" in r["message"] and "rank 1" in r["message"]
    assert not (tmp_path / "mismatch").exists()


def test_torchrun_cli_trains_with_two_ranks_from_a_profile_outside_params(tmp_path):
    """``torchrun --standalone --nproc_per_node 2 -m mvlib train``: rank 0 prepares the data
    first, both ranks train, rank 0 alone prints and writes; the run equals one process."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    prof = tmp_path / "tiny.yml"
    prof.write_text(
        f"inherits: {root / 'params' / 'ci.yml'}\n"
        "synth: {n_sensors: 6, clips_per_sensor: 4, duration_s: 1.0}\n"
        "split: {n_pairs: [20, 8, 8]}\n"
        "model: {hidden: 32}\n"
        "train: {epochs: 1, batch_size: 5, crop_frames: 16, device: cpu}\n"
    )
    env = {
        **os.environ,
        "MVLIB_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "mvlib", "train", "--profile", str(prof), "-q", "--run-dir"]
    p = subprocess.run(
        cmd + [str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("best epoch") == 1  # rank 0 alone reports
    one = subprocess.run(
        [sys.executable, "-m", "mvlib", "train", "--profile", str(prof), "-q", "--run-dir"]
        + [str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    assert _close(_weights(tmp_path / "one"), _weights(tmp_path / "two"))
    prov = json.loads((tmp_path / "two" / "provenance.json").read_text())["distributed"]
    assert prov["per_rank_batch"] == [3, 2]
