"""A faster DAC encoder that computes the same function as the stock ``dac`` one.

The stock ``dac.model.dac.Encoder`` spends its time in three places (CPU profile, 2 cores,
random-init weights, two 1 s clips): convolutions ~60 %, the Snake activation ~34 % (five
elementwise passes: ``alpha * x``, ``sin``, ``pow``, ``* 1/alpha``, ``+ x``), and
re-deriving every weight-normed weight on every forward ~5 %. :class:`FastEncoder` is built
from a stock encoder and

- folds weight norm into plain convolutions, once (``w = g * v / ||v||``, computed with the
  same ``torch._weight_norm`` the stock hook calls, so the folded weights are bit-identical);
- evaluates Snake ``x + 1/(alpha + 1e-9) * sin(alpha * x)^2`` in one pass: the formula is
  ``torch.compile``'d once per process (dynamic shapes, shared by all 29 Snakes; measured on
  a (2, 64, 88064) tensor: 4.1x faster than stock's jit Snake, eager in-place 2.3x), with the
  eager four-pass formulation (``mul``, ``sin_``, ``mul_``, ``addcmul``) as fallback;
  :func:`compile_encoder` compiles the whole encoder instead (252 s to compile on the
  2 busy cores; the convolutions stay oneDNN's, and no gain over the eager encoder could be
  resolved on the shared machine, so it is an option of ``benchmarks/extract.py`` only);
- runs under ``inference_mode`` (the frontend's ``__call__``) on batches of equal-length clips;
- optionally under bf16 autocast (``precision="bf16"``): convolutions in bf16 with fp32
  accumulation, Snake evaluated in fp32. Only worth it where the hardware has bf16 units
  (any recent GPU; AVX-512 BF16 or AMX on a CPU); elsewhere it is emulated and slower.

The fp32 path differs from the stock encoder only by float rounding (a different but
equivalent order of operations): its largest relative error per frame stays far below
float16 storage rounding (2^-11, the store keeps float16). See :func:`frame_rel_error` and
``tests/frontend/test_dac_fast.py``; ``benchmarks/extract.py`` measures speed and error side by side.
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


def _snake_expr(x: torch.Tensor, alpha: torch.Tensor, inv_alpha: torch.Tensor) -> torch.Tensor:
    # the formula as one expression: inductor turns it into one vectorised loop (fp32 math)
    xf = x.float()
    return (xf + inv_alpha * torch.sin(alpha * xf) ** 2).to(x.dtype)


#: DAC 44.1 kHz: the encoder's input rate (for ``compile_after_s``)
SAMPLE_RATE = 44100

#: the compiled Snake, shared by all layers (dynamic shapes: one compilation per process,
#: ~17 s on 2 busy cores; inductor's disk cache makes later processes faster); None until
#: first use, False when compilation failed (then the eager formulation is used)
_SNAKE_COMPILED: Any = None


def snake(
    x: torch.Tensor, alpha: torch.Tensor, inv_alpha: torch.Tensor, fused: bool
) -> torch.Tensor:
    """Snake: compiled into one pass when ``fused`` (falling back to eager), else eager."""
    global _SNAKE_COMPILED
    if fused and _SNAKE_COMPILED is not False:
        try:
            if _SNAKE_COMPILED is None:
                _SNAKE_COMPILED = torch.compile(_snake_expr, dynamic=True)
            return _SNAKE_COMPILED(x, alpha, inv_alpha)
        except Exception as e:  # noqa: BLE001 - no C++ compiler / triton: stay correct
            warnings.warn(f"dac_fast: compiled Snake unavailable ({e}); using eager", stacklevel=2)
            _SNAKE_COMPILED = False
    if x.dtype != torch.float32:  # bf16 autocast: the sine in fp32, the result back
        return _snake_eager(x.float(), alpha, inv_alpha).to(x.dtype)
    return _snake_eager(x, alpha, inv_alpha)


class FusedSnake(nn.Module):
    """Snake1d with ``1 / (alpha + 1e-9)`` precomputed; fp32 math under bf16 autocast.

    Parameters
    ----------
    alpha : Tensor[1 x C x 1]
        The stock module's ``alpha``.
    ndim : int
        3 for Tensor[B x C x N] inputs, 4 for the channels-last Tensor[B x C x 1 x N].
    """

    def __init__(self, alpha: torch.Tensor, ndim: int = 3, fused: bool = True):
        super().__init__()
        self.fused = fused
        alpha = alpha.detach().float().reshape((1, -1) + (1,) * (ndim - 2))  # (1, C, 1[, 1])
        self.register_buffer("alpha", alpha.clone())
        self.register_buffer("inv_alpha", (alpha + 1e-9).reciprocal())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return snake(x, self.alpha, self.inv_alpha, self.fused)


def fold_conv(conv: nn.Conv1d, as_2d: bool = False) -> nn.Module:
    """A plain Conv1d computing what a weight-normed one does (``weight_g``/``weight_v``).

    With ``as_2d``, the same as a channels-last Conv2d with a (1, k) kernel, for inputs
    Tensor[B x C x 1 x N] in ``torch.channels_last`` memory (oneDNN's direct NHWC kernels:
    measured ~1.8x faster than its NCW path on a 64-channel full-rate layer alone, but not
    faster end to end on the 2-core CPU: layout copies appear around the strided convs).
    """
    if as_2d:
        out2 = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            (1, conv.kernel_size[0]),
            stride=(1, conv.stride[0]),
            padding=(0, conv.padding[0]),
            dilation=(1, conv.dilation[0]),
            groups=conv.groups,
            bias=conv.bias is not None,
            device="meta",
        )
        plain = fold_conv(conv)
        w = plain.weight.detach()[:, :, None, :]  # (O, I, 1, k)
        out2.weight = nn.Parameter(
            w.contiguous(memory_format=torch.channels_last), requires_grad=False
        )
        if plain.bias is not None:
            out2.bias = nn.Parameter(plain.bias.detach().clone(), requires_grad=False)
        return out2
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

    def __init__(self, unit: nn.Module, as_2d: bool = False):
        super().__init__()
        s1, c7, s2, c1 = unit.block
        nd = 4 if as_2d else 3
        self.snake1, self.conv7 = FusedSnake(s1.alpha, nd), fold_conv(c7, as_2d)
        self.snake2, self.conv1 = FusedSnake(s2.alpha, nd), fold_conv(c1, as_2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.snake2(self.conv7(self.snake1(x))))
        pad = (x.shape[-1] - y.shape[-1]) // 2
        if pad > 0:  # as dac: centre-crop the skip path (never happens with "same" padding)
            x = x[..., pad:-pad]
        return x + y


def _convert(module: nn.Module, as_2d: bool) -> nn.Module:
    kind = type(module).__name__
    if kind == "Snake1d":
        return FusedSnake(module.alpha, 4 if as_2d else 3)
    if isinstance(module, nn.Conv1d):
        return fold_conv(module, as_2d)
    if kind == "ResidualUnit":
        return FastResidualUnit(module, as_2d)
    if kind in ("EncoderBlock", "Encoder"):
        return nn.Sequential(*[_convert(m, as_2d) for m in module.block])
    raise TypeError(f"dac_fast: no fast version of {kind} (unexpected dac encoder layout)")


class FastEncoder(nn.Module):
    """The stock DAC encoder, weight norm folded, fused Snake, optional bf16 autocast.

    Parameters
    ----------
    encoder : dac.model.dac.Encoder
        The stock encoder (left unchanged; its weights are copied).
    precision : {"fp32", "bf16"}
        Computation precision (resolve "auto" with :func:`resolve_precision` first).
    channels_last : bool
        Run the 1-D convolutions as channels-last 2-D ones on Tensor[B x C x 1 x N] (the
        NHWC layout of oneDNN's direct kernels and cuDNN's bf16 tensor-core kernels; off by
        default: not faster end to end where measured, on the CPU).
    fused : bool
        Compile Snake into one pass (torch.compile, shared by all layers; falls back to the
        eager four-pass formulation if compilation is unavailable).
    compile_after_s : float
        With ``fused``, run the eager Snake until this many seconds of audio (all clips of
        all calls) have been encoded, then the compiled one: compiling costs
        ~17 s once per process (2 cores), more than it saves on a handful of clips (the
        book's random-DAC proof). The two differ by float rounding only (both tested
        against the stock encoder). 0: compiled from the first call.
    sample_rate : int
        The encoder's input rate (converts ``compile_after_s`` to samples).

    Notes
    -----
    ``forward(x: Tensor[B x 1 x N]) -> Tensor[B x D x N / hop]`` (44.1 kHz DAC: D 1024, hop 512), fp32 output either way
    (with ``channels_last`` a strided view whose ``transpose(1, 2)`` is contiguous).
    """

    def __init__(
        self,
        encoder: nn.Module,
        precision: str = "fp32",
        channels_last: bool = False,
        fused: bool = True,
        compile_after_s: float = 0.0,
        sample_rate: int = SAMPLE_RATE,
    ):
        super().__init__()
        assert precision in ("fp32", "bf16"), f"precision {precision!r}: resolve 'auto' first"
        with torch.no_grad():
            self.body = _convert(encoder, channels_last)
        self.fused = fused
        self.compile_after = float(compile_after_s) * sample_rate
        self.seen = 0  #: samples encoded so far (all clips of all calls)
        self._set_fused(fused and self.compile_after <= 0)
        self.precision = precision
        self.channels_last = channels_last
        self.requires_grad_(False).eval()

    def compile_now(self) -> None:
        """Use the compiled Snake from the next call on (when ``fused``)."""
        self.compile_after = 0.0
        self._set_fused(self.fused)

    def _set_fused(self, on: bool) -> None:
        for m in self.modules():
            if isinstance(m, FusedSnake):
                m.fused = on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 3 and x.shape[1] == 1, f"expected Tensor[B x 1 x N], got {tuple(x.shape)}"
        if self.fused and self.compile_after > 0:
            self._set_fused(self.seen >= self.compile_after)
            self.seen += x.shape[0] * x.shape[-1]
        if self.channels_last:
            x = x[:, :, None, :].contiguous(memory_format=torch.channels_last)  # (B, 1, 1, N)
        if self.precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                z = self.body(x).float()
        else:
            z = self.body(x)
        return z[:, :, 0, :] if self.channels_last else z  # (B, D, T)


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
