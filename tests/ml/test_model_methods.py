"""The autoencoders' reconstruct() and trace_shapes (mvlib.ml.model)."""

import torch

from mvlib.core.config import ModelConfig, ObjectiveConfig
from mvlib.ml.model import build_model, trace_shapes

D, T, B = 8, 5, 3


def _model(method, **obj):
    torch.manual_seed(0)
    model = build_model(method, D, ModelConfig(hidden=16), ObjectiveConfig(**obj), n_outputs=2)
    return model.eval()


def test_multiview_reconstruct_is_the_forward_of_a_clip_paired_with_itself():
    # one clip: z_S = (z_s + z_s) / 2 = z_s, so forward(x, x) decodes z_p (+) z_s
    model, x = _model("multiview"), torch.randn(B, T, D)
    with torch.no_grad():
        torch.testing.assert_close(model.reconstruct(x), model(x, x)["x1_hat"])


def test_singleview_reconstruct_is_its_forward():
    model, x = _model("singleview"), torch.randn(B, T, D)
    with torch.no_grad():
        assert torch.equal(model.reconstruct(x), model(x)["x_hat"])


def test_reconstruct_never_masks():
    model, x = _model("multiview", objective="mask", mask_ratio=0.9), torch.randn(B, T, D)
    model.train()
    with torch.no_grad():
        assert torch.equal(model.reconstruct(x), model.reconstruct(x))


def test_trace_shapes_lists_each_layer_call_of_both_views():
    model, x = _model("multiview"), torch.randn(B, T, D)
    rows = trace_shapes(model, x, x)
    assert [r["module"] for r in rows] == ["encoder.0", "encoder.1", "encoder.2"] * 2 + [
        "decoder.0",
        "decoder.1",
        "decoder.2",
    ] * 2
    assert rows[0] == {
        "module": "encoder.0",
        "layer": "Linear",
        "input": (B, T, D),
        "output": (B, T, 16),
        "parameters": D * 16 + 16,
    }
    assert rows[-1]["output"] == (B, T, D)
    assert not model.encoder[0]._forward_hooks  # the hooks are removed
