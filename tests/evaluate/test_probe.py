"""Tests of mvlib.evaluate.probe: MLP probes on toy features with known structure (paper 3.4)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from mvlib.core.config import ProbeConfig
from mvlib.evaluate.metrics import EMPTY_CLIP_JACCARD, accuracy, jaccard_samples
from mvlib.evaluate.probe.fit import (
    _standardise,
    evaluate_probe,
    fit_probe,
    fit_probes,
    fit_tasks,
    per_clip_outputs,
    prepare_heads,
    probe_features,
)
from mvlib.evaluate.probe.heads import (
    MLPProbe,
    _heads_forward,
    _heads_grad,
    _heads_loss,
    _score,
    _views,
    train_one_task_heads,
)

CFG = ProbeConfig(hidden=64, epochs=40, lr=1e-3, batch_size=64, patience=10, seed=0)
PREVALENCE = np.array([0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1])
N_SENSORS = 5


def _blobs(rng, n_per: int = 200, d: int = 16):
    """Gaussian blobs, one per sensor: centres ~ N(0, 3^2) per dimension, unit noise."""
    centres = rng.normal(0, 3, size=(N_SENSORS, d))
    y = np.repeat(np.arange(N_SENSORS), n_per)
    return centres[y] + rng.normal(size=(y.size, d)), y


def _threshold_labels(rng, n: int, d_noise: int = 4):
    """Label c is ``x_c > 0`` where x_c is bimodal (±2, sd 0.3) with P(+) = PREVALENCE[c]."""
    y = (rng.random((n, PREVALENCE.size)) < PREVALENCE).astype(int)
    x = np.where(y == 1, 2.0, -2.0) + 0.3 * rng.normal(size=y.shape)
    return np.hstack([x, rng.normal(size=(n, d_noise))]), y


def _split(n: int, rng):
    """Random 60/20/20 train/val/test boolean masks."""
    part = np.array(["train"] * (6 * n // 10) + ["val"] * (2 * n // 10))
    part = np.r_[part, ["test"] * (n - part.size)]
    return rng.permutation(part)


def _fit_eval(X, y, task, cfg=CFG, seed=0):
    part = _split(X.shape[0], np.random.default_rng(seed))
    tr, va, te = (part == p for p in ("train", "val", "test"))
    probe = fit_probe(X[tr], y[tr], X[va], y[va], task, cfg)
    return probe, evaluate_probe(probe, X[te], y[te], task), te


# --------------------------------------------------------------------------- architecture


def test_mlp_probe_architecture():
    m = MLPProbe(d_in=12, n_out=8, hidden=32, dropout=0.25)
    kinds = [type(layer) for layer in m.net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert (m.net[0].in_features, m.net[0].out_features) == (12, 32)
    assert (m.net[3].in_features, m.net[3].out_features) == (32, 8)
    assert m.net[2].p == 0.25
    assert m(torch.zeros(3, 12)).shape == (3, 8)


# --------------------------------------------------------------------------- separable toys


def test_sensor_blobs_near_perfect():
    X, y = _blobs(np.random.default_rng(0))
    probe, m, _ = _fit_eval(X, y, "sensor")
    assert m["accuracy"] > 0.95 and m["macro_f1"] > 0.95
    assert m["weight_decay"] in CFG.weight_decays and 1 <= m["best_epoch"] <= CFG.epochs
    assert probe.predict_scores(X[:4]).sum(axis=1) == pytest.approx(np.ones(4))  # softmax


def test_source_thresholds_near_perfect():
    X, y = _threshold_labels(np.random.default_rng(1), 1000)
    probe, m, _ = _fit_eval(X, y, "source")
    assert m["jaccard"] > 0.95 and m["micro_f1"] > 0.95
    assert m["micro_auprc"] > 0.95 and m["macro_auprc"] > 0.95
    assert m["n_classes_no_positive"] == 0
    s = probe.predict_scores(X[:4])
    assert s.shape == (4, 8) and ((s > 0) & (s < 1)).all()  # sigmoid, per label


def test_shuffled_sensor_labels_stay_at_chance():
    rng = np.random.default_rng(2)
    X, y = _blobs(rng)
    probe, m, te = _fit_eval(X, rng.permutation(y), "sensor")
    # predictions are independent of shuffled test labels, so accuracy is ~ 1/5 with a
    # binomial SE of sqrt(0.2 * 0.8 / 200) = 0.028 on 200 test clips: 0.1 is ~3.5 SE
    assert abs(m["accuracy"] - 1 / N_SENSORS) < 0.1


def test_shuffled_source_labels_stay_at_prior_score():
    rng = np.random.default_rng(3)
    X, y = _threshold_labels(rng, 1000)
    y = y[rng.permutation(len(y))]  # rows stay intact (label co-occurrence kept)
    probe, m, te = _fit_eval(X, y, "source")
    # the best label-blind rule: predict each label whose training prevalence is >= 0.5
    part = _split(len(y), np.random.default_rng(0))
    prior_pred = np.tile(y[part == "train"].mean(axis=0) >= 0.5, (te.sum(), 1)).astype(int)
    prior_jaccard = jaccard_samples(y[te], prior_pred)
    # per-sample Jaccard has sd <= 0.5, so its SE on 200 test clips is <= 0.035; 0.1 leaves
    # room for a probe that predicts the prior set only on most clips
    assert abs(m["jaccard"] - prior_jaccard) < 0.1
    # a label-blind ranking within a class gives AP ~ the class prevalence
    assert abs(m["macro_auprc"] - y[te].mean(axis=0).mean()) < 0.1


# --------------------------------------------------------------------------- model selection


@pytest.mark.parametrize("task", ["source", "sensor"])
def test_kept_state_is_the_selected_one(task):
    rng = np.random.default_rng(4)
    X, y = _threshold_labels(rng, 600) if task == "source" else _blobs(rng, n_per=120)
    part = _split(len(y), rng)
    tr, va = part == "train", part == "val"
    probe = fit_probe(X[tr], y[tr], X[va], y[va], task, CFG)
    if task == "source":
        metric = lambda t, p: jaccard_samples(t, p, zero_division=EMPTY_CLIP_JACCARD)  # noqa
    else:
        metric = accuracy
    # the restored weights reproduce the recorded validation score and its epoch
    assert metric(y[va], probe.predict(X[va])) == pytest.approx(probe.val_score)
    hist = probe.history[probe.weight_decay]
    assert hist[probe.best_epoch - 1] == pytest.approx(probe.val_score)
    assert probe.val_score == pytest.approx(max(max(h) for h in probe.history.values()))
    assert set(probe.history) == set(CFG.weight_decays)


def test_patience_stops_early():
    rng = np.random.default_rng(5)
    X, y = _blobs(rng, n_per=60)
    cfg = ProbeConfig(hidden=32, epochs=200, patience=3, weight_decays=(1e-4,))
    probe, _, _ = _fit_eval(X, rng.permutation(y), "sensor", cfg)
    hist = probe.history[1e-4]
    assert len(hist) < 200 and len(hist) == probe.best_epoch + 3


# --------------------------------------------------------------------------- standardisation


def test_standardisation_uses_training_statistics_only():
    rng = np.random.default_rng(6)
    X, y = _blobs(rng, n_per=80)
    part = _split(len(y), rng)
    tr, va, te = (part == p for p in ("train", "val", "test"))
    X_off = X.copy()
    X_off[va | te] += 1e3  # val/test far away from train
    probe = fit_probe(X_off[tr], y[tr], X_off[va], y[va], "sensor", CFG)
    np.testing.assert_allclose(probe.mean, X[tr].mean(axis=0))
    np.testing.assert_allclose(probe.std, X[tr].std(axis=0))
    # scores are the head applied to train-standardised inputs, row by row (no batch stats)
    z = torch.from_numpy(((X_off[te] - X[tr].mean(0)) / X[tr].std(0)).astype(np.float32))
    expected = torch.softmax(probe.model(z), dim=1).detach().numpy()
    np.testing.assert_allclose(probe.predict_scores(X_off[te]), expected, rtol=1e-5, atol=1e-6)
    one = probe.predict_scores(X_off[te][:1])
    np.testing.assert_allclose(one[0], expected[0], rtol=1e-5, atol=1e-6)
    # a test-statistics standardiser would cancel the offset; ours does not
    assert not np.allclose(probe.predict_scores(X_off[te]), probe.predict_scores(X[te]))


def test_constant_feature_is_only_centred():
    rng = np.random.default_rng(7)
    X, y = _blobs(rng, n_per=40, d=4)
    X[:, 0] = 5.0
    probe, m, _ = _fit_eval(X, y, "sensor")
    assert probe.std[0] == 1.0 and probe.mean[0] == 5.0
    assert np.isfinite(m["accuracy"])


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_scores_and_rng_untouched():
    rng = np.random.default_rng(8)
    X, y = _threshold_labels(rng, 400)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    a, ma, _ = _fit_eval(X, y, "source")
    assert torch.equal(torch.get_rng_state(), state), "global torch RNG must be restored"
    assert torch.get_num_threads() == threads
    b, mb, _ = _fit_eval(X, y, "source")
    np.testing.assert_array_equal(a.predict_scores(X), b.predict_scores(X))
    assert ma == mb
    c, _, _ = _fit_eval(X, y, "source", ProbeConfig(**{**CFG.__dict__, "seed": 1}))
    assert not np.array_equal(a.predict_scores(X), c.predict_scores(X))


# --------------------------------------------------------------------------- feature sets


def test_probe_features_and_dsc():
    rng = np.random.default_rng(9)
    x_sensor, sensor = _blobs(rng, n_per=120, d=8)
    x_source, source = _threshold_labels(rng, len(sensor))
    n = len(sensor)
    partition = _split(n, rng)
    partition[:20] = ""  # unused rows
    ids = np.array([f"sensor-{k:02d}" for k in (sensor * 7 + 3)])  # arbitrary sensor ids
    features = {
        "z_p": x_source,  # carries source only: the desired private subspace
        "z_s": x_sensor,  # carries sensor only: the desired shared subspace
        "joint": np.hstack([x_source, x_sensor]),
    }
    cfg = ProbeConfig(hidden=64, epochs=60, patience=10, weight_decays=(1e-4,))
    res = probe_features(features, source, ids, partition, cfg)
    assert set(res) == {"z_p", "z_s", "joint", "dsc"}
    assert res["z_p"]["source"]["jaccard"] > 0.9 and res["z_s"]["sensor"]["accuracy"] > 0.9
    assert res["joint"]["source"]["jaccard"] > 0.9 and res["joint"]["sensor"]["accuracy"] > 0.9
    assert res["z_p"]["sensor"]["accuracy"] < 0.45  # chance 0.2
    n_test = int((partition == "test").sum())
    assert res["z_p"]["sensor"]["n_test"] == n_test
    dsc = res["dsc"]
    assert dsc["dsc_priv"] == pytest.approx(
        res["z_p"]["source"]["jaccard"] - res["z_s"]["source"]["jaccard"]
    )
    assert dsc["dsc_shared"] == pytest.approx(
        res["z_s"]["sensor"]["accuracy"] - res["z_p"]["sensor"]["accuracy"]
    )
    assert dsc["dsc_priv"] > 0.3 and dsc["dsc_shared"] > 0.3


def test_per_clip_outputs_average_to_the_reported_metrics():
    rng = np.random.default_rng(12)
    x, sensor = _blobs(rng, n_per=40, d=6)
    xs, source = _threshold_labels(rng, len(sensor))
    source[:50] = 0  # clips without any source: the two Jaccard conventions differ there
    part = _split(len(sensor), rng)
    cfg = ProbeConfig(hidden=16, epochs=15, weight_decays=(1e-4,))
    per_clip: dict = {}
    res = probe_features({"x": np.hstack([x, xs])}, source, sensor, part, cfg, per_clip=per_clip)
    te, va = part == "test", part == "val"
    src, sen = res["x"]["source"], res["x"]["sensor"]
    assert per_clip["x.source.test.score"].shape == (te.sum(),)
    assert per_clip["x.source.test.scores"].shape == (te.sum(), 8)
    assert per_clip["x.sensor.test.scores"].shape == (te.sum(), N_SENSORS)
    assert per_clip["x.source.test.score"].mean() == pytest.approx(src["jaccard"])
    assert per_clip["x.source.test.jaccard_empty0"].mean() == pytest.approx(src["jaccard_empty0"])
    assert per_clip["x.sensor.test.score"].mean() == pytest.approx(sen["accuracy"])
    # the head was selected on exactly this validation score
    assert per_clip["x.source.val.score"].mean() == pytest.approx(src["val_score"])
    assert per_clip["x.sensor.val.score"].mean() == pytest.approx(sen["val_score"])
    assert per_clip["x.sensor.val.score"].shape == (va.sum(),)
    # empty clips: 1 under the book's convention exactly where nothing was predicted
    empty = source[te].sum(1) == 0
    assert src["n_empty"] == empty.sum() > 0
    nothing = (per_clip["x.source.test.scores"] < 0.5).all(1)
    clip = per_clip["x.source.test.score"]
    assert (clip[empty & nothing] == 1).all() and (clip[empty & ~nothing] == 0).all()
    assert (per_clip["x.source.test.jaccard_empty0"][empty] == 0).all()
    assert list(per_clip["sensor_classes"]) == [str(k) for k in range(N_SENSORS)]
    probe = fit_probe(x[part == "train"], sensor[part == "train"], x[va], sensor[va], "sensor", cfg)
    out = per_clip_outputs(probe, x[te], sensor[te], "sensor")
    assert set(np.unique(out["score"])) <= {0.0, 1.0}


def test_probe_features_without_both_subspaces_has_no_dsc():
    rng = np.random.default_rng(10)
    x, sensor = _blobs(rng, n_per=30, d=4)
    _, source = _threshold_labels(rng, len(sensor))
    cfg = ProbeConfig(hidden=16, epochs=3, weight_decays=(1e-4,))
    res = probe_features({"x": x}, source, sensor, _split(len(sensor), rng), cfg)
    assert set(res) == {"x"} and set(res["x"]) == {"source", "sensor"}


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_named():
    rng = np.random.default_rng(11)
    x, sensor = _blobs(rng, n_per=10, d=4)
    _, source = _threshold_labels(rng, len(sensor))
    part = _split(len(sensor), rng)
    cfg = ProbeConfig(hidden=8, epochs=1, weight_decays=(1e-4,))
    bad = part.astype(object)
    bad[0] = "validation"
    with pytest.raises(ValueError, match="validation"):
        probe_features({"x": x}, source, sensor, bad, cfg)
    with pytest.raises(ValueError, match="'test'"):
        probe_features({"x": x}, source, sensor, np.where(part == "test", "", part), cfg)
    with pytest.raises(ValueError, match="'y'.*rows"):
        probe_features({"x": x, "y": x[:-1]}, source, sensor, part, cfg)
    with pytest.raises(ValueError, match="task"):
        fit_probe(x, sensor, x, sensor, "genre", cfg)
    with pytest.raises(ValueError, match="'b'.*rows"):
        fit_probes({"a": (x, x), "b": (x[:-1], x)}, sensor, sensor, "sensor", cfg)
    with pytest.raises(ValueError, match="no feature sets"):
        fit_probes({}, sensor, sensor, "sensor", cfg)
    with pytest.raises(ValueError, match="0/1"):
        fit_probe(x, source * 2, x, source, "source", cfg)
    x_nan = x.copy()
    x_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        fit_probe(x_nan, sensor, x, sensor, "sensor", cfg)
    probe = fit_probe(x, sensor, x, sensor, "sensor", cfg)
    with pytest.raises(ValueError, match="fitted for 'sensor'"):
        evaluate_probe(probe, x, source, "source")
    with pytest.raises(ValueError, match="feature columns"):
        probe.predict(x[:, :3])


# --------------------------------------------------------------------------- batched heads


def _sequential_reference(x_tr, y_tr, x_va, y_va, task, n_out, wd, cfg):
    """The per-head loop mvlib used before batching: MLPProbe + torch.optim.AdamW."""
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        model = MLPProbe(x_tr.shape[1], n_out, cfg.hidden, cfg.dropout)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=wd)
        loss_fn = nn.BCEWithLogitsLoss() if task == "source" else nn.CrossEntropyLoss()
        n, bs = x_tr.shape[0], min(cfg.batch_size, x_tr.shape[0])
        scores, states = [], []
        for _ in range(cfg.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                scores.append(_score(task, y_va.numpy(), model(x_va)))
            states.append({k: v.clone() for k, v in model.state_dict().items()})
    return states, scores


def _three_sets(rng, n=300):
    """Feature sets of widths 6, 6 and 12 (z_p-like, z_s-like, joint) and both labels."""
    x_sen, sensor = _blobs(rng, n_per=n // N_SENSORS, d=6)
    x_src, source = _threshold_labels(rng, len(sensor), d_noise=0)
    x_src = x_src[:, :6]
    feats = {"p": x_src, "s": x_sen, "joint": np.hstack([x_src, x_sen])}
    return feats, source, sensor, _split(len(sensor), rng)


@pytest.mark.parametrize("task", ["source", "sensor"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_heads_grad_matches_autograd(task, dropout):
    rng = torch.Generator().manual_seed(0)
    k, b, d_max, hid, n_out = 3, 10, 7, 5, 4
    P = d_max * hid + hid + hid * n_out + n_out
    th = torch.randn(k, P, generator=rng, dtype=torch.float64)
    x = torch.randn(k, b, d_max, generator=rng, dtype=torch.float64)
    x[0, :, 4:] = 0  # head 0 is a zero-padded width-4 head
    if task == "source":
        y = (torch.rand(b, n_out, generator=rng) < 0.4).double()
    else:
        y = torch.randint(0, n_out, (b,), generator=rng)
    mask = None
    if dropout:
        mask = torch.empty(k, b, hid, dtype=torch.float64).bernoulli_(1 - dropout, generator=rng)
        mask /= 1 - dropout
    mine = _heads_grad(th, x, y, task, d_max, hid, n_out, mask)
    assert mine.shape == (k, P)
    t = th.clone().requires_grad_(True)
    loss = _heads_loss(task, _heads_forward(t, x, d_max, hid, n_out, mask)[0], y)
    assert loss.shape == (k,)
    (ref,) = torch.autograd.grad(loss.sum(), t, retain_graph=True)
    torch.testing.assert_close(mine, ref)
    # the padded rows of the padded head get no gradient: they stay 0 under AdamW
    W1 = _views(mine, d_max, hid, n_out)[0]
    assert (W1[0, 4:] == 0).all() and (W1[1, 4:] != 0).any()
    # head 0's gradient is its own loss's gradient
    (own,) = torch.autograd.grad(loss[0], t)
    torch.testing.assert_close(mine[0], own[0])
    assert (own[1:] == 0).all()


@pytest.mark.parametrize("task", ["source", "sensor"])
def test_batched_head_reproduces_the_sequential_loop(task):
    """One head of the batched trainer follows MLPProbe + AdamW: same init, order, dropout."""
    rng = np.random.default_rng(13)
    X, y = _threshold_labels(rng, 300) if task == "source" else _blobs(rng, n_per=60, d=6)
    part = _split(len(y), rng)
    tr, va = part == "train", part == "val"
    cfg = ProbeConfig(hidden=32, epochs=6, patience=None, dropout=0.2, weight_decays=(1e-2,))
    probe = fit_probe(X[tr], y[tr], X[va], y[va], task, cfg)
    n_out = y.shape[1] if task == "source" else N_SENSORS
    to_t = lambda a: torch.from_numpy(((a - probe.mean) / probe.std).astype(np.float32))  # noqa
    yt = torch.from_numpy(y.astype(np.float32 if task == "source" else np.int64))
    states, scores = _sequential_reference(
        to_t(X[tr]), yt[tr], to_t(X[va]), yt[va], task, n_out, 1e-2, cfg
    )
    # float rounding differs (bmm vs addmm, hand-written AdamW vs torch's): close, not equal
    for name, value in states[probe.best_epoch - 1].items():
        torch.testing.assert_close(probe.model.state_dict()[name], value, atol=1e-5, rtol=1e-4)
    assert probe.history[1e-2] == pytest.approx(scores, abs=1e-9)


def test_batched_fit_equals_single_head_fits():
    rng = np.random.default_rng(14)
    feats, source, sensor, part = _three_sets(rng)
    tr, va = part == "train", part == "val"
    cfg = ProbeConfig(hidden=16, epochs=12, patience=4, dropout=0.2, weight_decays=(1e-4, 0.1))
    split = {k: (X[tr], X[va]) for k, X in feats.items()}
    # both tasks' heads in one loop (as probe_features does): each as in its task's fit
    prep = {
        t: prepare_heads(split, y[tr], y[va], t, None)
        for t, y in (("source", source), ("sensor", sensor))
    }
    both = fit_tasks(prep, cfg, progress=False, threads=1)
    for task, y in (("source", source), ("sensor", sensor)):
        state = torch.get_rng_state()
        many = fit_probes(split, y[tr], y[va], task, cfg, n_classes=None)
        for name, p in many.items():
            assert both[task][name].history == p.history
            for k, v in p.model.state_dict().items():  # padding may change float rounding
                torch.testing.assert_close(v, both[task][name].model.state_dict()[k])
        assert torch.equal(torch.get_rng_state(), state)
        again = fit_probes(split, y[tr], y[va], task, cfg)
        assert list(many) == list(feats)
        for name, X in feats.items():
            p = many[name]
            assert p.model.net[0].in_features == X.shape[1]
            # determinism: same seed, same weights
            for k, v in p.model.state_dict().items():
                assert torch.equal(v, again[name].model.state_dict()[k])
            alone = fit_probe(X[tr], y[tr], X[va], y[va], task, cfg)
            assert alone.history == p.history and alone.weight_decay == p.weight_decay
            assert (alone.best_epoch, alone.val_score) == (p.best_epoch, p.val_score)
            for wd in cfg.weight_decays:  # every head alone, one weight decay per fit
                one = fit_probe(X[tr], y[tr], X[va], y[va], task, replace(cfg, weight_decays=(wd,)))
                assert one.history[wd] == p.history[wd]
            for k, v in alone.model.state_dict().items():
                torch.testing.assert_close(p.model.state_dict()[k], v, atol=1e-6, rtol=1e-5)


def _heads(task, feats, y, part, wds, cfg):
    """train_one_task_heads on standardised (train, val) inputs of each named feature set."""
    tr, va = part == "train", part == "val"
    xs_tr, xs_va = [], []
    for X in feats:
        _, _, a, b = _standardise(X[tr], X[va])
        xs_tr.append(a)
        xs_va.append(b)
    yt = torch.from_numpy(y.astype(np.float32 if task == "source" else np.int64))
    n_out = y.shape[1] if task == "source" else int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        return train_one_task_heads(xs_tr, xs_va, yt[tr], yt[va], y[va], task, n_out, wds, cfg)


def test_weight_decay_of_a_head_affects_only_that_head():
    rng = np.random.default_rng(15)
    feats, source, sensor, part = _three_sets(rng)
    cfg = ProbeConfig(hidden=16, epochs=8, patience=None, dropout=0.1)
    X = [feats["p"], feats["joint"]]
    a = _heads("source", X, source, part, [1e-4, 1e-4], cfg)
    b = _heads("source", X, source, part, [1e-4, 0.9], cfg)
    for k in a[0][0]:
        assert torch.equal(a[0][0][k], b[0][0][k])  # head 0 untouched by head 1's decay
    assert a[0][4] == b[0][4]
    assert not torch.equal(a[1][0]["net.0.weight"], b[1][0]["net.0.weight"])


def test_per_head_patience_stops_a_head():
    rng = np.random.default_rng(16)
    x, sensor = _blobs(rng, n_per=60, d=6)
    noise = rng.normal(size=x.shape)  # carries nothing: its head stops early
    part = _split(len(sensor), rng)
    cfg = ProbeConfig(hidden=16, epochs=60, patience=3, weight_decays=(1e-4,))
    (s_n, ep_n, sc_n, _, h_n), (s_x, ep_x, sc_x, _, h_x) = _heads(
        "sensor", [noise, x], sensor, part, [1e-4, 1e-4], cfg
    )
    assert len(h_n) == ep_n + 3 < len(h_x), (len(h_n), ep_n, len(h_x))
    assert h_n[ep_n - 1] == sc_n == max(h_n)
    # the stopped head's kept state is its best epoch's, and the other head ran on as alone
    (alone,) = _heads("sensor", [x], sensor, part, [1e-4], cfg)
    assert alone[4] == h_x and alone[1] == ep_x
    va = part == "val"
    _, _, _, xv = _standardise(noise[part == "train"], noise[va])
    m = MLPProbe(6, N_SENSORS, 16)
    m.load_state_dict(s_n)
    m.eval()
    with torch.no_grad():
        assert accuracy(sensor[va], m(xv).argmax(1).numpy()) == pytest.approx(sc_n)
