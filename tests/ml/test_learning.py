"""Every objective and baseline learns on a toy store (mvlib.ml.train, mvlib.evaluate.probe).

A sign error in the training step (the optimiser climbing its loss) or an objective whose
gradient does not reach the encoder leaves every shape and file test green. Here each
built-in multi-view objective (every name :mod:`mvlib.ml.losses` registers in
:data:`~mvlib.core.registry.OBJECTIVES`, at each ``objective.level`` that changes its loss)
and each baseline (every trainable method of :data:`mvlib.ml.model.METHODS`, the supervised
one for each task) is trained by :func:`mvlib.ml.train.train` on a store whose latents
carry a sensor signature and the clip's source patterns. Then

* the validation loss of the last epoch is at least 5% below that of epoch 0
  (``losses.csv``; measured drops are 11-27%, and a climbing optimiser raises it);
* the run's own probes (:func:`mvlib.evaluate.probe.run.probe_trained_run` on the frozen
  encoder's embeddings) beat chance on both tasks by a wide margin: held-out sensor accuracy above
  the majority rate of the test partition + 0.3 (measured 0.79-1.0 against 0.25), source
  micro-AUPRC above the test partition's label rate + 0.25 (measured 0.76-0.90 against
  0.33).

The budgets are tiny (3 epochs of 4 steps, probes of 12 full-batch epochs) so that the
whole module runs in seconds; the seeds are fixed and the margins are many clips wide.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from toy_clips import toy_clips

from mvlib.core import config
from mvlib.core.config import ObjectiveConfig
from mvlib.core.registry import OBJECTIVES
from mvlib.data.splits.make import make_splits
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.embed.stored import run_embeddings
from mvlib.evaluate.probe.results import MAIN_FEATURE, downstream_labels
from mvlib.evaluate.probe.run import probe_trained_run
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml import train
from mvlib.ml.losses import OBJECTIVE_LEVELS, SUPERVISED_TASKS, objective_loss
from mvlib.ml.model import METHODS

D, T = 16, 16  #: latent dims and frames per clip
N_SENSORS, PER_SENSOR = 12, 24

#: the objectives mvlib itself registers (a test's or a researcher's plugin is not ours)
BUILTIN_OBJECTIVES = [
    name for name in OBJECTIVES.names() if OBJECTIVES.get(name).__module__.startswith("mvlib.")
]


def _levels(objective: str) -> list[str]:
    """The levels at which ``objective`` gives distinct losses (one run per distinct loss).

    Evaluated once on a random forward output: ``rec`` and ``mask`` ignore the level, the
    cosine objectives do not (eqs. 2-5).
    """
    g = torch.Generator().manual_seed(0)
    keys = ("x1_hat", "x2_hat", "z_p1", "z_s1", "z_p2", "z_s2", "z_S")
    out = {k: torch.randn(4, 3, 8, generator=g) for k in keys}  # (B, T, D)
    x1, x2 = torch.randn(4, 3, 8, generator=g), torch.randn(4, 3, 8, generator=g)
    seen, levels = [], []
    for level in OBJECTIVE_LEVELS:
        total = float(
            objective_loss(out, x1, x2, ObjectiveConfig(objective=objective, level=level))[0]
        )
        if total not in seen:
            seen.append(total)
            levels.append(level)
    return levels


def _baselines() -> dict[str, dict]:
    """Every trained method but the multi-view model; the supervised one per task."""
    out = {}
    for method in METHODS:
        if method in ("multiview", "frontend"):  # the objectives below; nothing to train
            continue
        if method == "supervised":
            for task in SUPERVISED_TASKS:
                out[f"supervised {task}"] = {"model.method": method, "model.supervised_task": task}
        else:
            out[method] = {"model.method": method}
    return out


#: test id -> config overrides: rec, mask, cos± at both levels and the four baselines (the
#: configurations of the sweep's grid)
CONFIGS = {
    **{
        f"{obj} {level}": {"objective.objective": obj, "objective.level": level}
        for obj in BUILTIN_OBJECTIVES
        for level in _levels(obj)
    },
    **_baselines(),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread: tiny matrices, and a shared 2-core machine (restored after)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Clips and a store whose frames are sensor signature + the clip's source patterns + noise.

    Frame t of clip i: ``s[sensor_i] + y_i @ P + e_t`` with s ~ N(0, 1.5^2) per sensor (D,),
    P ~ N(0, 1.5^2) one pattern (D,) per source class, y_i the clip's 8 labels, e_t ~ N(0, 1).
    """
    path = tmp_path_factory.mktemp("learning") / "store"
    clips = toy_clips(N_SENSORS, PER_SENSOR)
    rng = np.random.default_rng(1)
    sensor_vec = rng.normal(size=(N_SENSORS, D)) * 1.5  # (S, D)
    source_vec = rng.normal(size=(8, D)) * 1.5  # (8, D)
    y = clips[list(coarse_label_columns())].to_numpy(dtype=np.float64)  # (N, 8)
    header = {
        "identity": {"frontend": "logmel", "n_mels": D},
        "dim": D,
        "provenance": {"dataset": "toy"},
    }
    # the store's per-clip fsync (its crash safety, tested in tests/frontend) is not what
    # this module tests: without it, writing the toy store takes 0.05 s instead of 2
    with pytest.MonkeyPatch.context() as mp, StoreWriter(path, header) as w:
        mp.setattr(os, "fsync", lambda fd: None)
        for i, r in enumerate(clips.itertuples()):
            mean = sensor_vec[int(r.sensor_id)] + y[i] @ source_vec  # (D,)
            x = mean + rng.normal(size=(T, D))  # (T, D)
            w.append(r.clip_id, x.astype(np.float16), {})
    return clips, LatentStore(path)


def _cfg(over: dict) -> config.Config:
    base = {
        # 12 sensors: 6 train, 2 val, 4 held out (96 clips: 48 / 24 / 24 for the probes)
        "split.sensor_fractions": [0.5, 0.17, 0.33],
        "split.n_pairs": [96, 32, 16],
        "split.downstream_fractions": [0.5, 0.25, 0.25],
        "model.hidden": 32,
        "train.epochs": 3,
        "train.steps_per_epoch": 4,
        "train.lr": 0.01,
        "train.warmup_steps": 2,
        "train.patience": None,
        "train.batch_size": 16,
        "train.crop_frames": 8,
        "train.device": "cpu",
        "train.threads": 1,
        "features.n_mels": D,
        "probe.hidden": 32,
        "probe.epochs": 12,
        "probe.lr": 0.05,
        "probe.weight_decays": [0.01],
    }
    return config.read_profile("ci", {**base, **over})


def test_configs_cover_every_builtin_objective_and_baseline():
    assert {"rec", "mask", "cos_minus", "cos_plus"} <= set(BUILTIN_OBJECTIVES)
    assert {"cos_minus batch", "cos_plus batch"} <= set(CONFIGS)  # the level matters there
    assert "rec batch" not in CONFIGS  # ... and not for reconstruction alone
    baselines = {"singleview", "contrastive", "supervised source", "supervised sensor"}
    assert baselines <= set(CONFIGS)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_objective_and_baseline_learns(toy, tmp_path, name):
    clips, store = toy
    cfg = _cfg(CONFIGS[name])
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "run", progress=False)

    hist = pd.read_csv(res.run_dir / "losses.csv")
    val = hist[hist.split == "val"].set_index("epoch")["total"]
    assert list(val.index) == list(range(cfg.train.epochs))
    first, last = float(val.iloc[0]), float(val.iloc[-1])
    assert np.isfinite(val).all() and last < first - 0.05 * abs(first), (
        f"{name}: validation loss did not fall by 5% from epoch 0 to the last: "
        f"{val.round(4).tolist()}"
    )

    run = run_embeddings(res.run_dir, clips=clips)
    result = probe_trained_run(res.run_dir, progress=False, run=run)
    scores = result["metrics"][MAIN_FEATURE[cfg.model.method]]
    test = run.partition == "test"
    y_src, y_sen = downstream_labels(run.clips)
    majority = float(pd.Series(y_sen[test]).value_counts(normalize=True).iloc[0])
    rate = float(y_src[test].mean())
    assert test.sum() >= 20 and majority <= 0.3 and rate < 0.5  # chance is low: room to beat it
    accuracy, auprc = scores["sensor"]["accuracy"], scores["source"]["micro_auprc"]
    assert accuracy > majority + 0.3, f"{name}: sensor accuracy {accuracy:.3f}, chance {majority}"
    assert auprc > rate + 0.25, f"{name}: source micro-AUPRC {auprc:.3f}, chance {rate:.3f}"
