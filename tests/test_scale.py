"""Paper-scale planning and projection (mvlib.scale)."""

import math

import numpy as np
import pytest

from mvlib import scale
from mvlib.core.config import read_profile
from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.splits.make import make_splits
from mvlib.ml.batches import BatchLoader


def test_clip_table_has_the_network_shape_without_audio():
    cfg = SynthConfig(n_sensors=5, clips_per_sensor=7)
    t = scale.clip_table(cfg)
    assert len(t) == 35 and t["clip_id"].is_unique
    assert t.groupby("sensor_id").size().tolist() == [7] * 5
    labels = t[list(taxonomy.coarse_label_columns())].to_numpy()
    assert set(np.unique(labels)) <= {0, 1} and labels.sum(axis=1).min() >= 0
    assert t["audio_path"].str.startswith("audio/").all()
    assert scale.clip_table(cfg).equals(t)  # deterministic


def test_paper_scale_plan_matches_sonyc_ust_v2():
    cfg = read_profile("paper-scale")
    clips = scale.clip_table(cfg.synth)
    plan = scale.plan_extraction(cfg, clips, shards=64)
    assert plan["clips"] == 18510 and sum(plan["clips_per_shard"]) == 18510
    assert max(plan["clips_per_shard"]) - min(plan["clips_per_shard"]) <= 1
    assert plan["frames_per_clip"] == 862  # ceil(10 s * 44100 / 512)
    assert math.isclose(plan["audio_hours"], 18510 * 10 / 3600)
    # the issue's ~32 GB: 18,510 x 862 x 1024 float16
    assert plan["store_bytes"]["dac"] == 18510 * 862 * 1024 * 2
    assert plan["store_bytes"]["logmel"] == 18510 * 862 * 128 * 2
    used = clips.iloc[: plan["clips"]]
    splits = make_splits(used, cfg.split)
    assert {k: len(v) for k, v in splits.pairs.items()} == {
        "train": 39000,
        "val": 6000,
        "test": 11000,
    }
    assert used["sensor_id"].nunique() == 56
    assert [len(splits.sensors[k]) for k in ("train", "val", "heldout")] == [39, 5, 12]


def test_random_store_has_the_shape_and_says_what_it_holds(tmp_path):
    ids = [f"c{i}" for i in range(10)]
    store = scale.write_random_store(tmp_path / "s", ids, frames=20, dim=8, pool=3)
    assert len(store) == 10 and store.dim == 8 and store.get(0).shape == (20, 8)
    assert store.identity["frontend"] == "random-latents"
    assert "no audio" in store.header["provenance"]["dataset"]
    assert not np.array_equal(store.get(0), store.get(1))
    batches = list(BatchLoader(store, np.array([[0, 1], [2, 3], [4, 5]]), batch_size=2))
    assert [tuple(b["x1"].shape) for b in batches] == [(2, 20, 8), (1, 20, 8)]


def test_projection_arithmetic():
    measured = {
        "logmel_clips_per_s": 4.0,
        "dac_clips_per_s": 0.5,
        "train_pairs_per_s": {"logmel": 20.0, "dac": 5.0},
        "stream_pairs_per_s": {"logmel": 80.0, "dac": 20.0},
    }
    n = 10_000_000
    p = scale.project(measured, n, workers=(1, 10), gpu_clips_per_s=50.0, ram_gb=256)
    dac10 = p[(p.frontend == "dac") & (p.N == 10)].iloc[0]
    assert math.isclose(dac10.store_GB, n * 862 * 1024 * 2 / 1e9)  # ~17.7 TB
    assert math.isclose(dac10.extract_cpu_h, n / (0.5 * 10) / 3600)
    assert math.isclose(dac10.extract_gpu_h, n / (50.0 * 10) / 3600)
    pairs = n * 39000 / 18510
    compute = pairs * (1 / 5.0 + 1 / 20.0) / 10 / 3600
    read = pairs * 2 * 862 * 1024 * 2 / 2e9 / 3600
    assert math.isclose(dac10.epoch_h, max(compute, read))
    assert dac10.bound == ("storage read" if read > compute else "model compute")
    # the paper's size fits in RAM: no read floor; log-mel has no GPU figure
    small = scale.project(measured, 18510, workers=(1,), ram_gb=256)
    lm = small[small.frontend == "logmel"].iloc[0]
    assert lm.bound == "model compute" and math.isnan(lm.extract_gpu_h)
    assert math.isclose(lm.epoch_h, 39000 * (1 / 20 + 1 / 80) / 3600)


@pytest.mark.parametrize("fe", ["logmel", "dac"])
def test_bottleneck_names_where_the_store_is_read_from(fe):
    m = {"stream_pairs_per_s": {fe: 10.0}, "train_pairs_per_s": {fe: 1.0}}
    assert "RAM" in scale.bottleneck(m, 100, ram_bytes=1e12, frontend=fe)
    assert "larger than RAM" in scale.bottleneck(m, 10_000_000, ram_bytes=1e9, frontend=fe)
    assert "model compute" in scale.bottleneck(m, 100, ram_bytes=1e12, frontend=fe)


def test_read_bound_processes_is_where_the_projection_turns_to_storage():
    m = {"train_pairs_per_s": {"dac": 5.0}, "stream_pairs_per_s": {"dac": 20.0}}
    n_star = scale.read_bound_processes(m, "dac", read_gb_per_s=2.0)
    pair = 2 * 862 * 1024 * 2
    assert math.isclose(n_star, (1 / 5 + 1 / 20) * 2e9 / pair)
    below, above = int(n_star) - 1, int(n_star) + 2
    p = scale.project(m, 10_000_000, workers=(below, above), ram_gb=1)
    dac = p[p.frontend == "dac"].set_index("N")["bound"]
    assert dac[below] == "model compute" and dac[above] == "storage read"


def test_scaling_page_runs_on_the_committed_measurements(tmp_path):
    """book/scaling.ipynb reads benchmarks/results/scale.json (never measures) and runs."""
    import json
    from pathlib import Path

    papermill = pytest.importorskip("papermill")
    root = Path(__file__).resolve().parents[1]
    res = json.loads((root / "benchmarks/results/scale.json").read_text())
    assert res["plan"]["clips"] == 18510 and res["stream_epoch"]["pairs"] > 0
    assert res["throughput"]["dac_gpu_clips_per_s"] is None  # no GPU measured: none claimed
    out = tmp_path / "scaling.ipynb"
    papermill.execute_notebook(
        str(root / "book/scaling.ipynb"),
        str(out),
        parameters={"gpu_clips_per_s": 40.0, "gpu_train_pairs_per_s": 400.0},
        cwd=str(root / "book"),
        progress_bar=False,
    )
    text = out.read_text()
    assert "storage binds beyond" in text and "random latents" in text
