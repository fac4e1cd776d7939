"""Training: end to end, determinism, resume, errors (mvlib.ml.train, mvlib.embed.stored)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from toy_clips import toy_clips

from mvlib.core import config
from mvlib.core.errors import MvlibError
from mvlib.data.splits.make import make_splits
from mvlib.embed import stored
from mvlib.evaluate.probe.results import PREDICTIONS_FILE, load_predictions
from mvlib.evaluate.probe.run import probe_trained_run
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml import batches, runs, train

D, T = 16, 24


def _store(path, clips, frontend="logmel", seed=0):
    """A store of random latents with a per-sensor offset (so sensors are learnable)."""
    rng = np.random.default_rng(seed)
    header = {
        "identity": {"frontend": frontend, "n_mels": D},
        "dim": D,
        "provenance": {"dataset": "toy"},
    }
    with StoreWriter(path, header) as w:
        for r in clips.itertuples():
            x = rng.normal(size=(T, D)) + int(r.sensor_id)
            w.append(r.clip_id, x.astype(np.float16), {})
    return LatentStore(path)


def _corrupt(store, clip_id):
    """Overwrite one clip's latent bytes with NaN on disk (the store refuses to write NaN)."""
    r = store.row(clip_id)
    part, off, n = store.index.loc[r, ["part", "offset", "frames"]]
    data = np.memmap(store.path / part / "latents.f16", dtype="<f2", mode="r+").reshape(-1, D)
    data[off : off + n] = np.nan
    data.flush()
    return LatentStore(store.path)


def _cfg(**over):
    base = {
        "split.sensor_fractions": [0.5, 0.17, 0.33],
        "split.n_pairs": [48, 16, 16],
        "split.downstream_fractions": [0.5, 0.25, 0.25],
        "model.hidden": 32,
        "train.epochs": 2,
        "train.batch_size": 8,
        "train.crop_frames": 8,
        "train.device": "cpu",
        "features.n_mels": D,
    }
    base.update(over)
    return config.read_profile("ci", base)


@pytest.fixture()
def toy(tmp_path):
    clips = toy_clips()
    store = _store(tmp_path / "store", clips)
    return clips, store


def _weights(run_dir, which="last"):
    return runs.load_checkpoint(run_dir / "checkpoints" / f"{which}.pt")["model"]


def test_end_to_end_store_train_checkpoint_reload_encode(toy, tmp_path):
    clips, store = toy
    cfg = _cfg()
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "run", progress=False)
    run = res.run_dir
    for f in (
        "config.yaml",
        "provenance.json",
        "splits.json",
        "losses.csv",
        "done.json",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
    ):
        assert (run / f).exists(), f
    hist = pd.read_csv(run / "losses.csv")
    assert list(hist["epoch"]) == [0, 0, 1, 1] and set(hist["split"]) == {"train", "val"}
    assert np.isfinite(hist["total"]).all()
    model, cfg2, ckpt = runs.load_run_model(run)
    assert cfg2 == cfg and ckpt["provenance"]["frontend"] == "logmel"
    z = stored.embed_array(model, store.get(0).astype(np.float32))
    assert z["z_p"].shape == (T, D // 2) and z["z_s"].shape == (T, D // 2)
    # the best checkpoint is the epoch of minimum validation loss
    val = hist[hist.split == "val"].set_index("epoch")["total"]
    assert res.best_epoch == int(val.idxmin())
    # a finished run is reused, not retrained
    again = train.train(cfg, clips, splits, store, run_dir=run, progress=False)
    assert again.best_epoch == res.best_epoch


def test_same_seed_gives_bitwise_identical_weights(toy, tmp_path):
    clips, store = toy
    cfg = _cfg(**{"objective.objective": "mask"})
    splits = make_splits(clips, cfg.split)
    runs = [
        train.train(cfg, clips, splits, store, run_dir=tmp_path / f"r{i}", progress=False)
        for i in range(2)
    ]
    a, b = (_weights(r.run_dir) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train.train(
        cfg.replace({"train.seed": 1}),
        clips,
        splits,
        store,
        run_dir=tmp_path / "r2",
        progress=False,
    )
    c = _weights(other.run_dir)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_after_a_kill_reaches_the_same_weights(toy, tmp_path, monkeypatch):
    clips, store = toy
    cfg = _cfg(**{"train.epochs": 3, "objective.objective": "cos_minus"})
    splits = make_splits(clips, cfg.split)
    full = train.train(cfg, clips, splits, store, run_dir=tmp_path / "full", progress=False)

    real = train._run_epoch
    calls = {"n": 0}

    def dying(model, loader, cfg_, device, optimizer=None, epoch=0, bar=None, schedule=None):
        if optimizer is not None and epoch == 2:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        return real(model, loader, cfg_, device, optimizer, epoch, bar, schedule)

    monkeypatch.setattr(train, "_run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, clips, splits, store, run_dir=tmp_path / "killed", progress=False)
    assert not (tmp_path / "killed" / "done.json").exists()
    with pytest.raises(FileExistsError, match="unfinished run"):
        train.train(
            cfg, clips, splits, store, run_dir=tmp_path / "killed", resume=False, progress=False
        )
    monkeypatch.setattr(train, "_run_epoch", real)
    resumed = train.train(cfg, clips, splits, store, run_dir=tmp_path / "killed", progress=False)
    a, b = _weights(full.run_dir), _weights(resumed.run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history.equals(full.history.assign(seconds=resumed.history["seconds"]))


@pytest.mark.parametrize(
    "method, task",
    [
        ("singleview", None),
        ("contrastive", None),
        ("supervised", "source"),
        ("supervised", "sensor"),
    ],
)
def test_every_baseline_trains(toy, tmp_path, method, task):
    clips, store = toy
    over = {"model.method": method, "train.epochs": 1}
    if task:
        over["model.supervised_task"] = task
    cfg = _cfg(**over)
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / method, progress=False)
    model, _, _ = runs.load_run_model(res.run_dir)
    assert model.method == method
    z = stored.embed_rows(model, store, [0, 1, 2])
    assert all(v.shape[0] == 3 for v in z.values())


def test_store_of_another_frontend_is_refused(tmp_path):
    clips = toy_clips()
    store = _store(tmp_path / "dac_store", clips, frontend="dac")
    cfg = _cfg()
    with pytest.raises(
        runs.StoreMismatchForRun, match="frontend 'dac'.*features.frontend='logmel'"
    ):
        train.train(
            cfg, clips, make_splits(clips, cfg.split), store, run_dir=tmp_path / "r", progress=False
        )


def test_non_finite_loss_names_epoch_step_and_term(tmp_path):
    clips = toy_clips()
    cfg = _cfg(**{"train.crop_frames": None})
    splits = make_splits(clips, cfg.split)
    victim = clips.clip_id.iloc[splits.pairs["train"][0, 0]]
    store = _corrupt(_store(tmp_path / "s", clips), victim)
    with pytest.raises(train.NonFiniteTrainingError, match=r"epoch 0, train step \d+: .*rec"):
        train.train(cfg, clips, splits, store, run_dir=tmp_path / "r", progress=False)


def test_batch_loader_crops_and_orders(toy):
    clips, store = toy
    loader = batches.BatchLoader(
        store,
        np.array([[0, 1], [2, 3], [4, 5]]),
        batch_size=2,
        crop_frames=5,
        shuffle=False,
        seed=0,
    )
    first = list(loader)
    assert [b["x1"].shape for b in first] == [(2, 5, D), (1, 5, D)]
    # evaluation crops are identical from one pass to the next
    again = list(loader)
    assert torch.equal(first[0]["x2"], again[0]["x2"])
    full = batches.BatchLoader(store, np.array([0, 1]), batch_size=2, shuffle=False)
    x = next(iter(full))["x"]
    assert torch.equal(x[0], torch.from_numpy(store.get(0).astype(np.float32)))


def test_probe_run_writes_results_with_provenance(toy, tmp_path, monkeypatch):

    clips, store = toy
    cfg = _cfg(**{"probe.epochs": 60, "probe.lr": 0.01, "probe.weight_decays": [0.0001]})
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "run", progress=False)
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=True: clips)
    out = probe_trained_run(res.run_dir, progress=False)
    saved = (res.run_dir / "results.json").read_text()
    assert '"git_commit"' in saved and '"config"' in saved
    s = out["summary"]
    assert s["frontend"] == "logmel" and s["seed"] == cfg.train.seed and s["method"] == "multiview"
    for k in ("source_jaccard", "sensor_accuracy", "source_jaccard_z_p", "sensor_accuracy_z_s"):
        assert 0.0 <= s[k] <= 1.0, k
    # eqs. 6 and 7 from the subspace scores
    assert s["dsc_priv"] == pytest.approx(s["source_jaccard_z_p"] - s["source_jaccard_z_s"])
    assert s["dsc_shared"] == pytest.approx(s["sensor_accuracy_z_s"] - s["sensor_accuracy_z_p"])
    # the toy store has a per-sensor offset: the joint latent must find the sensor
    assert s["sensor_accuracy"] > 0.8
    # strict JSON (null for undefined metrics) and per-clip predictions keyed by clip id
    json.loads(saved, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    preds = load_predictions(res.run_dir)
    assert preds["joint.source.test.score"].mean() == pytest.approx(s["source_jaccard"])
    assert preds["joint.sensor.test.score"].mean() == pytest.approx(s["sensor_accuracy"])
    assert preds["joint.sensor.val.score"].mean() == pytest.approx(s["sensor_val_accuracy"])
    test_ids = set(preds["clip_id.test"])
    assert len(test_ids) == s["n_test"] and test_ids <= set(clips["clip_id"].astype(str))
    # a changed sidecar is refused
    f = res.run_dir / PREDICTIONS_FILE
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(MvlibError, match="does not match the hash"):
        load_predictions(res.run_dir)


def test_store_with_another_frame_size_is_refused(tmp_path):
    clips = toy_clips()
    store = _store(tmp_path / "s", clips)  # logmel store of dim D = 16
    runs.check_store(_cfg(), store)
    with pytest.raises(runs.StoreMismatchForRun, match=r"dim=16.*expects 128"):
        runs.check_store(_cfg(**{"features.n_mels": 128}), store)


def test_probe_run_on_embeddings_the_caller_holds_equals_probe_run_alone(
    toy, tmp_path, monkeypatch
):
    """The sweep's worker embeds a run once (with its clip table) for probes and truth."""

    clips, store = toy
    cfg = _cfg(**{"probe.epochs": 5, "probe.weight_decays": [0.0001]})
    splits = make_splits(clips, cfg.split)
    res = train.train(cfg, clips, splits, store, run_dir=tmp_path / "run", progress=False)
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=True: clips)
    alone = probe_trained_run(res.run_dir, progress=False)
    monkeypatch.setattr(stored, "load_dataset", lambda *a, **k: pytest.fail("loaded again"))
    held = stored.run_embeddings(res.run_dir, clips=clips)
    given = probe_trained_run(res.run_dir, progress=False, run=held)
    for k in ("source_jaccard", "sensor_accuracy", "dsc_priv", "dsc_shared"):
        assert given["summary"][k] == alone["summary"][k], k
