"""A faster DAC encoder that computes the same function as the stock ``dac`` one.

The stock ``dac.model.dac.Encoder`` spends its time in three places (CPU profile, 2 cores,
random-init weights, two 1 s clips): convolutions ~60 %, the Snake activation ~34 % (five
elementwise passes: ``alpha * x``, ``sin``, ``pow``, ``* 1/alpha``, ``+ x``), and
re-deriving every weight-normed weight on every forward ~5 %. :class:`FastEncoder` is built
from a stock encoder and

- folds weight norm into plain convolutions, once (``w = g * v / ||v||``, computed with the
  same ``torch._weight_norm`` the stock hook calls, so the folded weights are bit-identical);
- evaluates Snake ``x + 1/(alpha + 1e-9) * sin(alpha * x)^2`` in fewer passes: in place
  (``mul``, ``sin_``, ``mul_``, ``addcmul``) in eager mode, or one fused loop per Snake
  (and the residual add folded into the next Snake) when compiled (:func:`compile_encoder`);
- runs under ``inference_mode`` (the frontend's ``__call__``) on batches of equal-length clips;
- optionally under bf16 autocast (``precision="bf16"``): convolutions in bf16 with fp32
  accumulation, Snake evaluated in fp32. Only worth it where the hardware has bf16 units
  (any recent GPU; AVX-512 BF16 or AMX on a CPU); elsewhere it is emulated and slower.

The fp32 path differs from the stock encoder only by float rounding (a different but
equivalent order of operations): its largest relative error per frame stays far below
float16 storage rounding (2^-11, the store keeps float16). See :func:`frame_rel_error` and
``tests/test_dac_fast.py``; ``benchmarks/extract.py`` measures speed and error side by side.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
from torch import nn

#: float16 keeps 11 significant bits: storage rounds each value by up to 2^-11 relative
FLOAT16_ROUNDING = 2.0**-11
#: "auto" picks bf16 only where the hardware computes it natively
PRECISIONS = ("fp32", "bf16", "auto")


def _snake_eager(x: torch.Tensor, alpha: torch.Tensor, inv_alpha: torch.Tensor) -> torch.Tensor:
    """Snake in four passes, two of them in place: ``x + inv_alpha * sin(alpha * x)^2``."""
    u = torch.sin_(x * alpha)  # (B, C, N)
    u.mul_(u)
    return torch.addcmul(x, u, inv_alpha)


class FusedSnake(nn.Module):
    """Snake1d with ``1 / (alpha + 1e-9)`` precomputed; fp32 math under bf16 autocast.

    Parameters
    ----------
    alpha : Tensor[1 x C x 1]
        The stock module's ``alpha``.
    """

    def __init__(self, alpha: torch.Tensor):
        super().__init__()
        alpha = alpha.detach().float().reshape(1, -1, 1)  # (1, C, 1)
        self.register_buffer("alpha", alpha.clone())
        self.register_buffer("inv_alpha", (alpha + 1e-9).reciprocal())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:  # bf16 autocast: the sine in fp32, the result back
            return _snake_eager(x.float(), self.alpha, self.inv_alpha).to(x.dtype)
        return _snake_eager(x, self.alpha, self.inv_alpha)


def fold_conv(conv: nn.Conv1d) -> nn.Conv1d:
    """A plain Conv1d computing what a weight-normed one does (``weight_g``/``weight_v``)."""
    out = nn.Conv1d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device="meta",
    )
    if hasattr(conv, "weight_g"):  # torch.nn.utils.weight_norm (the hook dac uses)
        weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
    elif hasattr(conv, "parametrizations"):  # torch.nn.utils.parametrizations.weight_norm
        weight = conv.weight
    else:
        weight = conv.weight
    out.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    if conv.bias is not None:
        out.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
    return out


class FastResidualUnit(nn.Module):
    """dac's ResidualUnit: ``x + conv1(snake(conv7(snake(x))))`` ("same" padding: no crop)."""

    def __init__(self, unit: nn.Module):
        super().__init__()
        s1, c7, s2, c1 = unit.block
        self.snake1, self.conv7 = FusedSnake(s1.alpha), fold_conv(c7)
        self.snake2, self.conv1 = FusedSnake(s2.alpha), fold_conv(c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.snake2(self.conv7(self.snake1(x))))
        pad = (x.shape[-1] - y.shape[-1]) // 2
        if pad > 0:  # as dac: centre-crop the skip path (never happens with "same" padding)
            x = x[..., pad:-pad]
        return x + y


def _convert(module: nn.Module) -> nn.Module:
    kind = type(module).__name__
    if kind == "Snake1d":
        return FusedSnake(module.alpha)
    if isinstance(module, nn.Conv1d):
        return fold_conv(module)
    if kind == "ResidualUnit":
        return FastResidualUnit(module)
    if kind in ("EncoderBlock", "Encoder"):
        return nn.Sequential(*[_convert(m) for m in module.block])
    raise TypeError(f"dac_fast: no fast version of {kind} (unexpected dac encoder layout)")


class FastEncoder(nn.Module):
    """The stock DAC encoder, weight norm folded, fused Snake, optional bf16 autocast.

    Parameters
    ----------
    encoder : dac.model.dac.Encoder
        The stock encoder (left unchanged; its weights are copied).
    precision : {"fp32", "bf16"}
        Computation precision (resolve "auto" with :func:`resolve_precision` first).

    Notes
    -----
    ``forward(x: Tensor[B x 1 x N]) -> Tensor[B x 1024 x N / 512]``, fp32 output either way.
    """

    def __init__(self, encoder: nn.Module, precision: str = "fp32"):
        super().__init__()
        assert precision in ("fp32", "bf16"), f"precision {precision!r}: resolve 'auto' first"
        with torch.no_grad():
            self.body = _convert(encoder)
        self.precision = precision
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 3 and x.shape[1] == 1, f"expected Tensor[B x 1 x N], got {tuple(x.shape)}"
        if self.precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.body(x).float()
        return self.body(x)


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (GPU: Ampere+; CPU: AVX-512 BF16 / AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and (
                torch.backends.cpu.get_cpu_capability() in ("AVX512", "AVX512_BF16", "AMX")
                or "AMX" in torch.backends.cpu.get_cpu_capability()
            )
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` where :func:`bf16_native`, else ``"fp32"``; others unchanged.

    Raises
    ------
    ValueError
        An unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"features.precision={precision!r}: expected one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return precision


def compile_encoder(
    encoder: FastEncoder, example: torch.Tensor | None = None
) -> tuple[Any, float | None]:
    """``torch.compile`` the encoder (inductor, static shapes), optionally warming it up.

    Inductor fuses each Snake (and the residual add before it) into one loop and leaves the
    convolutions to oneDNN / cuDNN. Compilation costs tens of seconds per distinct input
    shape (batch size, length): it pays for long runs of equal-length clips only.

    Returns
    -------
    compiled : callable
        Same signature as ``encoder``.
    seconds : float or None
        Wall time of the first (compiling) call on ``example``, if given.
    """
    compiled = torch.compile(encoder, dynamic=False)
    if example is None:
        return compiled, None
    t0 = time.perf_counter()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled(example)
    return compiled, time.perf_counter() - t0


def frame_rel_error(z: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest relative error per frame: ``max_{b,t} max_d |z - ref| / max_d |ref|``.

    Parameters
    ----------
    z, ref : Tensor[B x D x T]
        Latents (DAC's layout: channels before frames).
    """
    assert z.shape == ref.shape, f"shapes differ: {tuple(z.shape)} vs {tuple(ref.shape)}"
    err = (z.float() - ref.float()).abs().amax(dim=1)  # (B, T)
    scale = ref.float().abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny)  # (B, T)
    return float((err / scale).max())
