"""Label efficiency: stratified subsamples, refitted probes, CIs, paired comparisons, cache."""

import hashlib
import io
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from mvlib.core.config import Config, ProbeConfig, to_dict
from mvlib.evaluate import label_efficiency as le
from mvlib.evaluate.significance import holm, mean_interval, paired_difference
from mvlib.report import plots

matplotlib.use("Agg")

CFG = ProbeConfig(hidden=16, epochs=30, lr=0.01, patience=10, weight_decays=(1e-4,))


def _toy(rng, n_sensors=4, per=40):
    """Sensor blobs (sensor task) with label columns readable from the features."""
    sensors = np.repeat([f"s{k}" for k in range(n_sensors)], per)
    centres = rng.normal(0, 4, size=(n_sensors, 6))
    codes = np.repeat(np.arange(n_sensors), per)
    y_src = (rng.random((codes.size, 8)) < 0.4).astype(int)
    X = np.hstack([centres[codes] + rng.normal(size=(codes.size, 6)), 2.0 * y_src - 1])
    X[:, 6:] += 0.8 * rng.normal(size=(codes.size, 8))
    part = np.array((["train"] * 24 + ["val"] * 8 + ["test"] * 8) * n_sensors)
    ids = np.array([f"c{i:03d}" for i in range(codes.size)])
    return X, y_src, sensors, part, ids


def test_subsample_is_stratified_by_sensor_and_depends_on_ids_only():
    rng = np.random.default_rng(0)
    _, _, sensors, part, ids = _toy(rng)
    keep = le.subsample_train(ids, sensors, part, 0.05, 0, seed=1)
    assert (part[keep] == "train").all()
    per = pd.Series(sensors[keep]).value_counts()
    assert set(per.index) == {"s0", "s1", "s2", "s3"} and (per == 1).all()  # round(1.2) = 1
    keep20 = le.subsample_train(ids, sensors, part, 0.2, 0, seed=1)
    assert keep20.sum() == 4 * 5  # round(0.2 * 24) per sensor
    assert le.subsample_train(ids, sensors, part, 1.0, 0).sum() == (part == "train").sum()
    # the same ids whatever the row order; another index or seed gives another draw
    perm = rng.permutation(ids.size)
    again = le.subsample_train(ids[perm], sensors[perm], part[perm], 0.2, 0, seed=1)
    assert set(ids[perm][again]) == set(ids[keep20])
    other = le.subsample_train(ids, sensors, part, 0.2, 1, seed=1)
    assert set(ids[other]) != set(ids[keep20])
    assert set(ids[le.subsample_train(ids, sensors, part, 0.2, 0, seed=(1, 2))]) != set(ids[keep20])
    with pytest.raises(ValueError, match="fraction"):
        le.subsample_train(ids, sensors, part, 0.0, 0)


def test_probes_on_fewer_labels_keep_val_and_test_fixed():
    rng = np.random.default_rng(1)
    X, y_src, sensors, part, ids = _toy(rng)
    out = le.efficiency_probes(X, y_src, sensors, part, ids, CFG, (0.05, 1.0), n_subsamples=2)
    assert list(out["clip_id.test"]) == list(ids[part == "test"])
    assert int(out["0.05.0.n_train"]) == 4 and int(out["1.0.n_train"]) == 96
    assert "0.05.1.source.score" in out and "1.1.source.score" not in out
    for key in ("0.05.0.sensor.score", "1.0.source.score"):
        assert out[key].shape == (32,)
    assert set(np.unique(out["0.05.0.sensor.score"])) <= {0.0, 1.0}
    # all labels learn the easy sensor blobs at least as well as 1 clip per sensor does
    assert out["1.0.sensor.score"].mean() >= out["0.05.0.sensor.score"].mean() - 0.1
    assert out["1.0.sensor.score"].mean() > 0.8


def _result(seed, scores):
    return {
        "clip_id.test": np.array(["a", "b", "c", "d"]),
        **{f"{f:g}.{k}.{t}.score": np.asarray(v, dtype=float) for (f, k, t), v in scores.items()},
        **{f"{f:g}.0.n_train": np.array(10 if f < 1 else 100) for (f, _, _) in scores},
    }


def test_summarise_gives_cis_and_paired_holm_corrected_differences():
    enc = {"frontend": {}, "multiview": {}}
    for task in ("source", "sensor"):
        enc["frontend"][task] = {
            s: _result(s, {(0.2, 0, task): [0, 0, 1, 0], (1.0, 0, task): [1, 0, 1, 0]})
            for s in (0, 1)
        }
        enc["multiview"][task] = {
            s: _result(s, {(0.2, 0, task): [1, 0, 1, 1], (1.0, 0, task): [1, 1, 1, 0]})
            for s in (0, 1)
        }
    scores, comp = le.summarise(enc, (0.2, 1.0), reference="frontend")
    assert len(scores) == 2 * 2 * 2
    r = scores[(scores.encoder == "multiview") & (scores.task == "source")]
    r = r[r.fraction == 0.2].iloc[0]
    assert r.estimate == pytest.approx(0.75) and r.ci_low < 0.75 < r.ci_high
    assert r.n_train == 10 and r.units == 2 and r.clips == 4
    assert len(comp) == 4 and set(comp.encoder) == {"multiview"}
    c = comp[(comp.task == "source") & (comp.fraction == 0.2)].iloc[0]
    assert c.estimate == pytest.approx(0.5)
    np.testing.assert_allclose(comp.p_holm, holm(comp.p))
    fig = plots.plot_label_efficiency(scores)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0].startswith("20%")


def _clustered(rng, n_units=3, n_sensors=6, per=20):
    """Two encoders' per-clip 0/1 scores whose difference depends strongly on the sensor."""
    sensors = np.repeat([f"s{k}" for k in range(n_sensors)], per)
    ids = np.array([f"c{i:03d}" for i in range(sensors.size)])
    shift = np.repeat(rng.choice([-0.35, 0.35], n_sensors), per)  # sensor x encoder effect
    ref = (rng.random((n_units, ids.size)) < 0.6).astype(float)
    enc = (rng.random((n_units, ids.size)) < 0.6 + shift).astype(float)
    return ids, sensors, enc, ref


def _runs(ids, sensors, scores):
    return {
        u: {
            "clip_id.test": ids,
            "sensor.test": sensors,
            "1.0.source.score": scores[u],
            "1.0.n_train": np.array(100),
        }
        for u in range(scores.shape[0])
    }


def test_summarise_clusters_the_test_clips_in_their_sensors():
    """Chapter 6 uses the procedure of Tables 1 and 2: the sensors reach the statistics."""
    ids, sensors, enc, ref = _clustered(np.random.default_rng(5))
    perm = np.random.default_rng(6).permutation(ids.size)  # the reference in another order
    encoders = {
        "frontend": {"source": _runs(ids, sensors, enc)},
        "multiview": {"source": _runs(ids[perm], sensors[perm], ref[:, perm])},
    }
    scores, comp = le.summarise(encoders, (1.0,), reference="multiview")
    want = paired_difference(enc, ref, clusters=sensors)
    clip_independent = paired_difference(enc, ref)
    c = comp.iloc[0]
    assert c.n_clusters == 6 and c.estimate == pytest.approx(want.estimate)
    assert (c.ci_low, c.ci_high, c.p) == pytest.approx((want.ci_low, want.ci_high, want.p))
    # the sensor effect is strong: ignoring the clusters would give a much narrower interval
    assert want.ci_high - want.ci_low > 1.5 * (clip_independent.ci_high - clip_independent.ci_low)
    s = scores[scores.encoder == "frontend"].iloc[0]
    est = mean_interval(enc, clusters=sensors)
    assert s.clusters == 6 and s.ci_low == pytest.approx(est.ci_low)
    assert s.ci_high == pytest.approx(min(1.0, est.ci_high))  # scores live in [0, 1]
    assert c.significant == (c.p_holm < 0.05 and c.resolvable)
    # no sensors known: every clip is its own cluster (the former, clip-independent reading)
    for per_task in encoders.values():
        for r in per_task["source"].values():
            del r["sensor.test"]
    _, comp = le.summarise(encoders, (1.0,), reference="multiview")
    assert comp.iloc[0].n_clusters == 0
    assert comp.iloc[0].ci_low == pytest.approx(clip_independent.ci_low)


def test_subsamples_are_nested_in_their_run_the_unit():
    """A run's subsamples share its encoder: the unit is the run, scored by their mean."""
    rng = np.random.default_rng(7)
    ids, sensors, enc, ref = _clustered(rng, n_units=6)  # 2 runs x 3 subsamples each
    run_effect = np.repeat([0.3, -0.3], 3)[:, None]  # a seed effect its subsamples share
    enc = (rng.random(enc.shape) < np.clip(0.6 + run_effect, 0, 1)).astype(float)
    sub = {(r, k): (enc[3 * r + k], ref[3 * r + k]) for r in range(2) for k in range(3)}

    def results(i):
        return {
            r: {
                "clip_id.test": ids,
                "sensor.test": sensors,
                **{f"0.2.{k}.source.score": sub[(r, k)][i] for k in range(3)},
                "0.2.0.n_train": np.array(10),
            }
            for r in range(2)
        }

    encoders = {"frontend": {"source": results(0)}, "multiview": {"source": results(1)}}
    scores, comp = le.summarise(encoders, (0.2,), reference="multiview")
    s = scores[scores.encoder == "frontend"].iloc[0]
    assert s.units == 2 and s.subsamples == 6
    runs_a = enc.reshape(2, 3, -1).mean(axis=1)  # (runs, clips): mean over subsamples
    runs_b = ref.reshape(2, 3, -1).mean(axis=1)
    want = paired_difference(runs_a, runs_b, clusters=sensors)
    c = comp.iloc[0]
    assert c.estimate == pytest.approx(enc.mean() - ref.mean())
    assert (c.ci_low, c.ci_high, c.df) == pytest.approx((want.ci_low, want.ci_high, want.df))
    # taking the subsamples for units would claim 5 df for what 2 seeds estimate
    as_units = paired_difference(enc, ref, clusters=sensors)
    assert (
        as_units.n_units == 6
        and c.df < as_units.df
        and c.ci_high - c.ci_low > (as_units.ci_high - as_units.ci_low)
    )


def test_run_efficiency_reuses_the_runs_probe_and_caches(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    X, y_src, sensors, part, ids = _toy(rng)
    clips = pd.DataFrame({"clip_id": ids, "sensor_id": sensors})
    from mvlib.data.taxonomy import coarse_label_columns

    for j, c in enumerate(coarse_label_columns()):
        clips[c] = y_src[:, j]
    test_ids = ids[part == "test"][::-1]  # another order than the embeddings
    pred = {
        "clip_id.test": test_ids,
        "joint.source.test.score": np.arange(32, dtype=float),
        "joint.sensor.test.score": np.ones(32),
        "joint.source.val.score": np.full(32, 0.5),
        "joint.sensor.val.score": np.full(32, 0.25),
        # the sensors as the tables read them (codes into sensor_classes)
        "sensor_classes": np.array(["s0", "s1", "s2", "s3"]),
        "y_sensor.test": np.array([int(s[1]) for s in sensors[part == "test"][::-1]]),
    }
    buf = io.BytesIO()
    np.savez(buf, **pred)
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions.npz").write_bytes(buf.getvalue())
    cfg = to_dict(Config())
    cfg["probe"].update(hidden=16, epochs=5, weight_decays=[0.0001])
    res = {
        "summary": {"seed": 3, "method": "multiview", "main_feature": "joint"},
        "config": cfg,
        "predictions": {
            "file": "predictions.npz",
            "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        },
    }
    (run / "results.json").write_text(json.dumps(res))
    calls = []

    class FakeRun:
        embeddings = {"joint": X}
        partition = part

    FakeRun.clips = clips

    def fake(run_dir, *a, **k):
        calls.append(run_dir)
        return FakeRun

    monkeypatch.setattr(le, "run_embeddings", fake)
    out = le.run_efficiency(run, (0.2, 1.0), n_subsamples=2)
    # the 100% point is the run's own probe, re-ordered to the embedding's clip order
    want = pd.Series(pred["joint.source.test.score"], test_ids)[out["clip_id.test"]]
    np.testing.assert_array_equal(out["1.0.source.score"], want.to_numpy())
    assert float(out["1.0.sensor.val"]) == 0.25 and int(out["1.0.n_train"]) == 96
    assert "0.2.1.sensor.score" in out and len(calls) == 1
    np.testing.assert_array_equal(out["sensor.test"], sensors[part == "test"])
    files = list(run.glob("label_efficiency-*.npz"))
    assert len(files) == 1
    # a file cached before the sensors were kept gets them from predictions.npz, not refitted
    with np.load(files[0]) as z:
        old = {k: z[k] for k in z.files if k != "sensor.test"}
    buf = io.BytesIO()
    np.savez(buf, **old)
    files[0].write_bytes(buf.getvalue())
    again = le.run_efficiency(run, (0.2, 1.0), n_subsamples=2)
    np.testing.assert_array_equal(again["sensor.test"], out["sensor.test"])
    again = le.run_efficiency(run, (0.2, 1.0), n_subsamples=2)
    assert len(calls) == 1 and set(again) == set(out)  # reused, not refitted
    le.run_efficiency(run, (0.05, 1.0), n_subsamples=2)  # other fractions: another key
    assert len(calls) == 2 and len(list(run.glob("label_efficiency-*.npz"))) == 2
    # a run used for one task only (a supervised baseline) is probed on that task only
    one = le.run_efficiency(run, (0.2, 1.0), n_subsamples=2, tasks=("source",))
    assert "0.2.0.source.score" in one and not any(".sensor." in k for k in one)
    assert len(calls) == 3
