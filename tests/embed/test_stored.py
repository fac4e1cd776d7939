"""Frozen-encoder embeddings of stored features (mvlib.embed.stored)."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_run import N_MELS, tiny_config

from mvlib.core.config import ModelConfig, ObjectiveConfig
from mvlib.core.errors import MvlibError
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.embed import stored
from mvlib.frontend.logmel import LogMelFrontend
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml.model import build_model

D = 8


@pytest.fixture()
def store(tmp_path):
    rng = np.random.default_rng(0)
    with StoreWriter(tmp_path / "s", {"identity": {"frontend": "logmel"}, "dim": D}) as w:
        for i, t in enumerate((6, 6, 9, 6, 9)):  # two lengths: batched by length
            w.append(
                f"{i // 2:02d}_{i:06d}.wav",
                (rng.normal(size=(t, D)) + 3 * (i // 2)).astype(np.float16),
                {},
            )
    return LatentStore(tmp_path / "s")


def _model(method="multiview"):
    torch.manual_seed(0)
    return build_model(method, D, ModelConfig(hidden=16), ObjectiveConfig(), n_outputs=3)


def test_embed_rows_equals_per_clip_time_means_in_row_order(store):
    model = _model()
    rows = [4, 0, 2, 1]
    got = stored.embed_rows(model, store, rows, batch_size=2)
    for k, r in enumerate(rows):
        one = stored.pooled(stored.embed_array(model, store.get(r).astype(np.float32)))
        for name in ("z_p", "z_s", "joint"):
            np.testing.assert_allclose(got[name][k], one[name], rtol=1e-5, atol=1e-6)
    assert got["joint"].shape == (4, D)


def test_reconstruct_only_for_autoencoders(store):
    x = torch.as_tensor(store.get(0).astype(np.float32))[None]  # (1, T, D)
    assert _model("multiview").reconstruct(x).shape == x.shape
    assert _model("singleview").reconstruct(x).shape == x.shape
    assert not hasattr(_model("contrastive"), "reconstruct")


def test_frontend_only_embeds_the_features_themselves(store):
    x = store.get(1).astype(np.float32)
    out = stored.embed_rows(build_model("frontend", D, ModelConfig()), store, [1])
    np.testing.assert_allclose(out["x"][0], x.mean(0), rtol=1e-6)


def test_subspace_statistics_table(store):
    clips = pd.DataFrame({"clip_id": store.clip_ids, "sensor_id": [c[:2] for c in store.clip_ids]})
    pairs = np.array([[0, 1], [2, 3], [1, 0]])
    table = stored.subspace_statistics(_model(), store, clips, pairs)
    assert set(table.index) == {"z_p", "z_s", "joint"}
    assert {"cos same sensor", "cos other sensor", "std over clips"} <= set(table.columns)
    assert (table["cos same sensor"].abs() <= 1).all()


def test_frontend_result_embeddings_read_the_recorded_store_and_extract_nothing(
    tmp_path, monkeypatch
):
    """Label efficiency of the frontend-only baseline re-reads the store its results name."""
    cfg = tiny_config()
    rng = np.random.default_rng(1)
    rows, feats = [], {}
    for s in range(6):
        for k in range(6):
            cid = f"{s:02d}_{k:06d}.wav"
            labels = dict(zip(coarse_label_columns(), (rng.random(8) < 0.3).astype(int)))
            rows.append({"clip_id": cid, "sensor_id": f"{s:02d}", **labels})
            feats[cid] = rng.normal(size=(5, N_MELS)).astype(np.float16)
    clips = pd.DataFrame(rows)
    identity = LogMelFrontend(cfg.features).identity
    with StoreWriter(tmp_path / "store", {"identity": identity, "dim": N_MELS}) as w:
        for cid, x in feats.items():
            w.append(cid, x, {})
    store = LatentStore(tmp_path / "store")
    monkeypatch.setattr(stored, "load_dataset", lambda cfg, progress=False: clips)
    prov = {  # as a frontend-only result records it (mvlib.ml.runs.provenance)
        "store": str(store.path),
        "frontend": "logmel",
        "feature_dim": N_MELS,
        "feature_identity": identity,
    }
    got, down, part = stored.result_frontend_embeddings(cfg, prov, "result")
    want, down2, part2 = stored.frontend_embeddings(cfg, clips, store)
    assert list(down["clip_id"]) == list(down2["clip_id"]) and list(part) == list(part2)
    assert set(part) == {"train", "val", "test"}
    for i, cid in enumerate(down["clip_id"]):  # the features' own time means
        np.testing.assert_allclose(got["x"][i], feats[cid].astype(np.float32).mean(0), rtol=1e-6)
    np.testing.assert_array_equal(got["x"], want["x"])
    gone = {**prov, "store": str(tmp_path / "gone")}
    with pytest.raises(MvlibError, match="latent store of result is gone"):
        stored.result_frontend_embeddings(cfg, gone, "result")
