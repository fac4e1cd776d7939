"""Frozen-encoder embeddings of stored features (mvlib.evaluate.embed)."""

import numpy as np
import pandas as pd
import pytest
import torch

from mvlib.core.config import ModelConfig, ObjectiveConfig
from mvlib.evaluate import embed
from mvlib.frontend.store import LatentStore, StoreWriter
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
    got = embed.embed_rows(model, store, rows, batch_size=2)
    for k, r in enumerate(rows):
        one = embed.pooled(embed.embed_array(model, store.get(r).astype(np.float32)))
        for name in ("z_p", "z_s", "joint"):
            np.testing.assert_allclose(got[name][k], one[name], rtol=1e-5, atol=1e-6)
    assert got["joint"].shape == (4, D)


def test_reconstruct_only_for_autoencoders(store):
    x = store.get(0).astype(np.float32)
    assert embed.reconstruct(_model("multiview"), x).shape == x.shape
    assert embed.reconstruct(_model("singleview"), x).shape == x.shape
    assert embed.reconstruct(_model("contrastive"), x) is None


def test_frontend_only_embeds_the_features_themselves(store):
    x = store.get(1).astype(np.float32)
    out = embed.embed_rows(build_model("frontend", D, ModelConfig()), store, [1])
    np.testing.assert_allclose(out["x"][0], x.mean(0), rtol=1e-6)


def test_subspace_statistics_table(store):
    clips = pd.DataFrame({"clip_id": store.clip_ids, "sensor_id": [c[:2] for c in store.clip_ids]})
    pairs = np.array([[0, 1], [2, 3], [1, 0]])
    table = embed.subspace_statistics(_model(), store, clips, pairs)
    assert set(table.index) == {"z_p", "z_s", "joint"}
    assert {"cos same sensor", "cos other sensor", "std over clips"} <= set(table.columns)
    assert (table["cos same sensor"].abs() <= 1).all()
