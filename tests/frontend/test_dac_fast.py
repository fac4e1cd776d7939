"""mvlib.frontend.dac_fast: the fast encoder computes the stock DAC encoder's function."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from dac.model.dac import Encoder

from mvlib.core.config import FeatureConfig
from mvlib.frontend import dac_fast
from mvlib.frontend.dac_fast import (
    FLOAT16_ROUNDING,
    FastEncoder,
    FusedSnake,
    bf16_native,
    fold_conv,
    frame_rel_error,
    resolve_precision,
)
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.extract import extract
from mvlib.frontend.store.format import StoreMismatchError


def trained_like(enc: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Spread Snake alphas and weight-norm gains as training does (random init has alpha = 1
    and g = ||v||, where the fast and stock formulas happen to agree bit for bit)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("alpha"):
                p.copy_(torch.exp(0.7 * torch.randn(p.shape, generator=g)))
            elif name.endswith("weight_g"):
                p.mul_(torch.exp(0.3 * torch.randn(p.shape, generator=g)))
    return enc.eval()


@pytest.fixture(scope="module")
def stock() -> torch.nn.Module:
    """The DAC 44.1 kHz encoder architecture (22.3 M parameters), trained-like weights."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trained_like(Encoder(64, [2, 4, 8, 8], 1024))


def test_fp32_fast_encoder_equals_stock_within_float16_rounding(stock):
    # two 0.5 s clips at 44.1 kHz (a multiple of the hop), one batch
    x = 0.1 * torch.randn(2, 1, 43 * 512, generator=torch.Generator().manual_seed(2))
    fast = FastEncoder(stock, "fp32")  # compiled one-pass Snake
    eager = FastEncoder(stock, "fp32", fused=False)  # the eager four-pass Snake
    with torch.inference_mode():
        ref = stock(x)  # (2, 1024, 43)
        z = fast(x)
        ze = eager(x)
    assert z.shape == ref.shape == (2, 1024, 43) and z.dtype == torch.float32
    assert dac_fast._SNAKE_COMPILED is not False, "the compiled Snake fell back to eager"
    # stated bound: below float16 storage rounding (2^-11); measured ~3e-6
    for out in (z, ze):
        err = frame_rel_error(out, ref)
        assert err < FLOAT16_ROUNDING / 10, err
    assert not any(p.requires_grad for p in fast.parameters()) and not fast.training
    # one clip alone gives the same frames as in the batch
    with torch.inference_mode():
        one = fast(x[1:])
    assert frame_rel_error(one, ref[1:]) < FLOAT16_ROUNDING / 10


def test_folded_conv_is_the_weight_normed_conv(stock):
    conv = stock.block[1].block[0].block[1]  # a dilated k=7 weight-normed conv
    plain = fold_conv(conv)
    assert not hasattr(plain, "weight_g") and plain.dilation == conv.dilation
    x = torch.randn(1, conv.in_channels, 300)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), conv(x), rtol=0, atol=0)
        v, g = conv.weight_v.double(), conv.weight_g.double()
        w = g * v / v.norm(dim=(1, 2), keepdim=True)  # weight norm, by hand
    torch.testing.assert_close(plain.weight.double(), w, rtol=1e-6, atol=1e-9)


def test_fused_snake_matches_numpy():
    alpha = torch.tensor([0.05, 1.0, 3.0, -0.7]).reshape(1, 4, 1)
    x = torch.randn(2, 4, 50)
    with torch.no_grad():
        y = FusedSnake(alpha)(x).numpy()
    a, xn = alpha.double().numpy(), x.double().numpy()
    ref = xn + 1.0 / (a + 1e-9) * np.sin(a * xn) ** 2
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # under bf16 autocast the sine is still taken in fp32
        yb = FusedSnake(alpha)(x.bfloat16())
    assert yb.dtype == torch.bfloat16
    np.testing.assert_allclose(yb.double().numpy(), ref, rtol=2e-2, atol=2e-2)


def test_bf16_encoder_runs_and_is_close_but_not_equal():
    # a small encoder of the same layout: bf16 is emulated (slow) on CPUs without AVX-512 BF16
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = trained_like(Encoder(8, [2, 4], 32))
    x = 0.1 * torch.randn(2, 1, 4096, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ref = enc(x)
        zb = FastEncoder(enc, "bf16")(x)
        z = FastEncoder(enc, "fp32")(x)
    assert zb.dtype == torch.float32 and zb.shape == ref.shape
    err_b, err_f = frame_rel_error(zb, ref), frame_rel_error(z, ref)
    assert err_f < 1e-5 < err_b < 0.1, (err_f, err_b)  # bf16's 8-bit mantissa shows
    with torch.inference_mode():  # the channels-last (Conv2d, NHWC) layout: same function
        zc = FastEncoder(enc, "fp32", channels_last=True)(x)
    assert zc.shape == ref.shape and frame_rel_error(zc, ref) < 1e-5


def test_resolve_precision():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if bf16_native(cpu) else "fp32")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", cpu)
    with pytest.raises(AssertionError, match="auto"):
        FastEncoder(Encoder(8, [2], 16), "auto")


def test_store_at_one_precision_refuses_another(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "a.wav", (0.1 * rng.standard_normal(22050)).astype(np.float32), 44100)
    sf.write(tmp_path / "b.wav", (0.1 * rng.standard_normal(22050)).astype(np.float32), 44100)
    clips = pd.DataFrame(
        {"clip_id": ["a", "b"], "audio_path": [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg32 = FeatureConfig(frontend="dac", device="cpu", max_clips=1, batch_size=1)
        fe32 = DACFrontend(cfg32)
    assert fe32.identity["precision"] == "fp32" and not fe32.tag.endswith("bf16")
    store = tmp_path / "store"
    assert extract(clips, store, cfg32, frontend=fe32, progress=False).n_done == 1
    cfg16 = FeatureConfig(frontend="dac", device="cpu", batch_size=1, precision="bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe16 = DACFrontend(cfg16)
    assert fe16.identity == {**fe32.identity, "precision": "bf16"}
    assert fe16.tag == fe32.tag + "-bf16"  # its default store folder is another one
    # the store checks the identity before any clip is encoded
    with pytest.raises(StoreMismatchError, match="precision"):
        extract(clips, store, cfg16, frontend=fe16, progress=False)
    rep = extract(clips, store, replace(cfg32, max_clips=None), frontend=fe32, progress=False)
    assert (rep.n_done, rep.n_skipped_existing) == (1, 1)  # the same precision extends it


def test_snake_is_compiled_only_after_enough_audio(stock, monkeypatch):
    calls = []
    real = dac_fast.snake
    monkeypatch.setattr(
        dac_fast, "snake", lambda x, a, ia, fused: (calls.append(fused), real(x, a, ia, fused))[1]
    )
    x = 0.1 * torch.randn(2, 1, 43 * 512, generator=torch.Generator().manual_seed(3))
    # 2 clips x 0.499 s per call: eager until 0.9 s of audio are encoded, compiled after
    fast = FastEncoder(stock, "fp32", compile_after_s=0.9)
    outs = []
    with torch.inference_mode():
        for _ in range(3):
            calls.clear()
            outs.append(fast(x))
            assert len(set(calls)) == 1
            outs[-1] = (outs[-1], calls[0])
    assert [fused for _, fused in outs] == [False, True, True]
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)
    assert not FastEncoder(stock, "fp32", fused=False, compile_after_s=1.0).fused
    late = FastEncoder(stock, "fp32", compile_after_s=100.0)
    late.compile_now()
    calls.clear()
    with torch.inference_mode():
        late(x)
    assert set(calls) == {True}
