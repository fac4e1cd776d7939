"""Tests of mvlib.ml.model: shapes, the multi-view wiring (paper 2.1), masking, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mvlib.core.config import ModelConfig, ObjectiveConfig
from mvlib.ml.losses import cos_minus, model_loss
from mvlib.ml.model import (
    MLP,
    ContrastiveEncoder,
    FrontendOnly,
    MultiViewAE,
    SingleViewAE,
    SupervisedModel,
    build_model,
)

B, T = 3, 7
CFG = ModelConfig(hidden=32)


def views(D, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, D, generator=g), torch.randn(B, T, D, generator=g)


@pytest.mark.parametrize("D", [128, 1024])
def test_shapes_of_every_model(D):
    torch.manual_seed(0)
    x1, x2 = views(D)
    out = MultiViewAE(D, CFG)(x1, x2)
    assert out["x1_hat"].shape == out["x2_hat"].shape == (B, T, D)
    for k in ("z_p1", "z_s1", "z_p2", "z_s2", "z_S"):
        assert out[k].shape == (B, T, D // 2), k
    sv = SingleViewAE(D, CFG)
    o = sv(x1)
    assert o["x_hat"].shape == (B, T, D)
    assert o["z_p"].shape == o["z_s"].shape == (B, T, D // 2)
    assert {k: v.shape for k, v in sv.embed(x1).items()} == {
        "z_p": (B, T, D // 2),
        "z_s": (B, T, D // 2),
    }
    c = ContrastiveEncoder(D, CFG)
    oc = c(x1, x2)
    assert oc["z1"].shape == oc["z2"].shape == (B, T, D)
    assert c.embed(x1)["z"].shape == (B, T, D)
    s = SupervisedModel(D, 5, CFG)
    assert s(x1).shape == (B, 5)
    assert s.embed(x1)["z"].shape == (B, T, D)
    f = FrontendOnly(D)
    assert torch.equal(f.embed(x1)["x"], x1)


def test_mlp_structure():
    m = MLP(6, 4, hidden=10, depth=3, activation="tanh", dropout=0.1)
    kinds = [type(layer).__name__ for layer in m]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert [layer.out_features for layer in m if isinstance(layer, nn.Linear)] == [10, 10, 4]
    one = MLP(6, 4, depth=1)
    assert len(one) == 1 and one[0].in_features == 6
    default = MultiViewAE(1024, ModelConfig())  # paper-scale default: D -> 512 -> D
    widths = [
        (lin.in_features, lin.out_features) for lin in default.encoder if isinstance(lin, nn.Linear)
    ]
    assert widths == [(1024, 512), (512, 1024)]
    assert isinstance(default.encoder[1], nn.GELU)
    with pytest.raises(ValueError, match="activation 'swish'"):
        MLP(2, 2, activation="swish")


def test_wiring_shared_mean_and_decoder_input():
    torch.manual_seed(0)
    D = 16
    model = MultiViewAE(D, CFG).eval()
    x1, x2 = views(D)
    out = model(x1, x2)
    assert torch.allclose(out["z_S"], (out["z_s1"] + out["z_s2"]) / 2)
    h1 = model.encoder(x1)  # the encoder is shared: z_p,1 | z_s,1 are its two halves
    assert torch.equal(out["z_p1"], h1[..., : D // 2]) and torch.equal(
        out["z_s1"], h1[..., D // 2 :]
    )
    dec = model.decoder(torch.cat([out["z_p2"], out["z_S"]], dim=-1))
    assert torch.allclose(out["x2_hat"], dec)


def test_encode_single_clip_equals_forward_in_eval():
    torch.manual_seed(0)
    model = MultiViewAE(128, ModelConfig(hidden=32, dropout=0.3)).eval()
    x1, x2 = views(128)
    out = model(x1, x2)
    z_p, z_s = model.encode(x1)
    assert torch.equal(z_p, out["z_p1"]) and torch.equal(z_s, out["z_s1"])
    emb = model.embed(x2)
    assert torch.equal(emb["z_p"], out["z_p2"]) and torch.equal(emb["z_s"], out["z_s2"])


OBJECTIVES = [
    ObjectiveConfig(objective="rec"),
    ObjectiveConfig(objective="cos_minus", level="sample"),
    ObjectiveConfig(objective="cos_minus", level="batch"),
    ObjectiveConfig(objective="cos_plus", level="sample"),
    ObjectiveConfig(objective="cos_plus", level="batch", time_reduce="flatten"),
    ObjectiveConfig(objective="mask", mask_target="private"),
    ObjectiveConfig(objective="mask", mask_target="shared"),
]


@pytest.mark.parametrize(
    "obj", OBJECTIVES, ids=lambda o: f"{o.objective}-{o.level}-{o.mask_target}"
)
def test_loss_backpropagates_to_encoder_and_decoder_not_frontend(obj):
    torch.manual_seed(0)
    D = 16
    frontend = nn.Linear(4, D)
    frontend.requires_grad_(False)
    model = MultiViewAE(D, CFG, obj).train()
    raw = torch.randn(2, B, T, 4)
    with torch.no_grad():
        x1 = frontend(raw[0])
    with torch.inference_mode():  # inference tensors are accepted as inputs
        x2 = frontend(raw[1])
    total, terms = model_loss(model, {"x1": x1, "x2": x2}, obj)
    total.backward()
    for part in (model.encoder, model.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum().item() for g in grads) > 0
    assert all(p.grad is None for p in frontend.parameters())
    if obj.objective in ("cos_minus", "cos_plus"):
        assert terms["cos"] > 0


def test_cos_term_alone_reaches_encoder_only():
    torch.manual_seed(0)
    model = MultiViewAE(16, CFG, ObjectiveConfig(objective="cos_minus"))
    out = model(*views(16))
    cos_minus(out["z_p1"].mean(1), out["z_p2"].mean(1)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())


@pytest.mark.parametrize("target", ["private", "shared"])
def test_masking_only_in_train_mode_and_fresh(target):
    torch.manual_seed(0)
    D, r = 64, 0.4
    model = MultiViewAE(D, CFG, ObjectiveConfig(objective="mask", mask_ratio=r, mask_target=target))
    seen = []
    model.decoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    x1, x2 = views(D)
    half = slice(0, D // 2) if target == "private" else slice(D // 2, D)
    other = slice(D // 2, D) if target == "private" else slice(0, D // 2)

    model.train()
    out_a = model(x1, x2)
    out_b = model(x1, x2)
    inputs = torch.stack(seen)  # (4 decoder calls, B, T, D)
    frac = (inputs[..., half] == 0).float().mean().item()
    assert abs(frac - r) < 0.05  # 4*3*7*32 = 2688 entries
    assert (inputs[..., other] != 0).all()  # the other subspace is untouched
    assert not torch.equal(inputs[0][..., half], inputs[2][..., half])  # fresh per step
    assert not torch.equal(out_a["x1_hat"], out_b["x1_hat"])
    assert torch.equal(out_a["z_p1"], out_b["z_p1"])  # returned latents are unmasked

    seen.clear()
    model.eval()
    out_c, out_d = model(x1, x2), model(x1, x2)
    assert all((s != 0).all() for s in seen)
    assert torch.equal(out_c["x1_hat"], out_d["x1_hat"])


def test_no_masking_for_other_objectives_in_train_mode():
    torch.manual_seed(0)
    model = MultiViewAE(16, CFG, ObjectiveConfig(objective="rec", mask_ratio=0.9)).train()
    x1, x2 = views(16)
    assert torch.equal(model(x1, x2)["x1_hat"], model(x1, x2)["x1_hat"])


def _train_three_steps(method, seed):
    torch.manual_seed(seed)
    obj = ObjectiveConfig(objective="mask", mask_ratio=0.3)
    model = build_model(method, 16, ModelConfig(hidden=32, dropout=0.1), obj, n_outputs=2)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(3):
        x1, x2 = views(16, seed=100 + step)
        batch = {"x1": x1, "x2": x2, "y": torch.tensor([[0.0, 1.0]] * B)}
        opt.zero_grad()
        model_loss(model, batch, obj)[0].backward()
        opt.step()
    return init, model.state_dict()


@pytest.mark.parametrize("method", ["multiview", "singleview", "contrastive", "supervised"])
def test_same_seed_is_bitwise_reproducible(method):
    init_a, final_a = _train_three_steps(method, seed=5)
    init_b, final_b = _train_three_steps(method, seed=5)
    init_c, _ = _train_three_steps(method, seed=6)
    assert init_a.keys() == final_a.keys()
    for k in init_a:
        assert torch.equal(init_a[k], init_b[k]), k
        assert torch.equal(final_a[k], final_b[k]), k
    assert any(not torch.equal(final_a[k], init_a[k]) for k in init_a)  # it did train
    assert any(not torch.equal(init_a[k], init_c[k]) for k in init_a)  # seed matters


def test_odd_dimension_and_bad_input_raise():
    with pytest.raises(ValueError, match="D=7 must be even"):
        MultiViewAE(7, CFG)
    with pytest.raises(ValueError, match="D=5 must be even"):
        build_model("singleview", 5, CFG)
    assert build_model("contrastive", 5, CFG).embed(torch.zeros(1, 2, 5))["z"].shape == (1, 2, 5)
    model = MultiViewAE(8, CFG)
    with pytest.raises(ValueError, match=r"Tensor\[B x T x 8\], got shape \(2, 3, 6\)"):
        model.encode(torch.zeros(2, 3, 6))
    with pytest.raises(ValueError, match="got shape"):
        model.encode(torch.zeros(3, 8))


def test_build_model_methods():
    obj = ObjectiveConfig(objective="mask", mask_ratio=0.2, mask_target="shared")
    expected = {
        "multiview": MultiViewAE,
        "singleview": SingleViewAE,
        "contrastive": ContrastiveEncoder,
        "supervised": SupervisedModel,
        "frontend": FrontendOnly,
        "dac": FrontendOnly,
    }
    for method, cls in expected.items():
        model = build_model(method, 8, CFG, obj, n_outputs=4)
        assert isinstance(model, cls)
        assert model.method == ("frontend" if method == "dac" else method)
        assert callable(model.embed)
    mv = build_model("multiview", 8, CFG, obj)
    assert (mv.mask_ratio, mv.mask_target) == (0.2, "shared")
    sup = build_model("supervised", 8, ModelConfig(supervised_task="sensor"), n_outputs=12)
    assert sup.task == "sensor" and sup.head.out_features == 12
    with pytest.raises(ValueError, match="needs n_outputs"):
        build_model("supervised", 8, CFG)
    with pytest.raises(ValueError, match="method 'vae'"):
        build_model("vae", 8, CFG)
