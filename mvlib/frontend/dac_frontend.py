"""The DAC frontend: pre-quantization latents of the DAC 44.1 kHz / 8 kbps encoder (paper 3.2).

``model.encoder(x)`` (not ``encode()``'s quantized ``z``): 10 s -> (862, 1024). The weights
are found and checked by :mod:`mvlib.frontend.dac_weights`; only the encoder is kept, as a
:class:`mvlib.frontend.dac_fast.FastEncoder`.
"""

from __future__ import annotations

import torch

from mvlib.core.config import FeatureConfig
from mvlib.core.errors import MvlibError
from mvlib.core.registry import FRONTENDS
from mvlib.frontend.dac_fast import FastEncoder, resolve_precision
from mvlib.frontend.dac_weights import (
    DAC_OFFICIAL_TAG,
    find_dac_weights_source,
    import_dac,
    load_dac_weights,
    random_dac,
    weights_tag,
)
from mvlib.frontend.interface import Frontend, lufs_slug, resolve_device, state_dict_sha256
from mvlib.frontend.preprocess import PREPROCESS_VERSION

__all__ = ["COMPILE_SNAKE_AFTER_S", "DACFrontend"]

#: the DAC frontend compiles Snake once this much audio (s) is encoded: a handful of clips
#: (chapter 2's random-DAC proof) runs eager rather than wait ~17 s for a compilation
COMPILE_SNAKE_AFTER_S = 60.0


@FRONTENDS.register("dac")
class DACFrontend(Frontend):
    """Pre-quantization latents of the DAC 44.1 kHz / 8 kbps encoder (paper 3.2).

    Weights, first found wins: ``cfg.dac_weights``; ``$MVLIB_DAC_WEIGHTS``; dac's cache file
    ``~/.cache/descript/dac/weights_44khz_8kbps_0.0.1.pth``; ``dac.utils.download()`` (only
    if github.com resolves); else, if ``cfg.allow_random_dac``, a seeded random init (with a
    warning: such features are *not* the paper's); else :class:`WeightsError`. A weights
    file must hold exactly the state-dict keys and shapes of ``dac.DAC()`` (checked here,
    since ``dac.DAC.load`` loads with ``strict=False``). Only the encoder is kept, as a
    :class:`mvlib.frontend.dac_fast.FastEncoder` (``self.encoder``: weight norm folded, fused Snake)
    at ``cfg.precision`` ("auto" resolved here; the identity records the resolved value, and
    a non-fp32 precision is appended to the tag, e.g. ``...-lufs-24-bf16``).
    """

    name = "dac"

    def __init__(self, cfg: FeatureConfig):
        if cfg.sample_rate != 44100:
            raise MvlibError(
                "features.sample_rate",
                f"{cfg.sample_rate}: the DAC 44.1 kHz frontend needs 44100",
                "set features.sample_rate=44100, or use features.frontend=logmel",
            )
        self.device = resolve_device(cfg.device)
        path, where = find_dac_weights_source(cfg)
        if path is not None:
            model = load_dac_weights(path, where)
            weights = weights_tag(path)
            slug = "0.0.1" if weights == DAC_OFFICIAL_TAG else None
        else:
            model = random_dac(cfg.dac_seed)
            weights = f"random-init-seed-{cfg.dac_seed}"
            slug = f"random-init-seed{cfg.dac_seed}"
        assert isinstance(model, import_dac().DAC)
        self.hop = int(model.hop_length)
        self.sample_rate = int(model.sample_rate)
        self.dim = int(model.latent_dim)
        if self.hop != cfg.hop:
            raise MvlibError(
                "features.hop",
                f"{cfg.hop}: DAC's hop is {self.hop}",
                f"set features.hop={self.hop}",
            )
        stock = model.encoder.eval().requires_grad_(False)
        del model  # decoder and quantizer are not needed: free their ~54 M parameters
        sha = state_dict_sha256(stock.state_dict())  # the stock (weight-normed) tensors
        self.precision = resolve_precision(cfg.precision, self.device)
        # weight norm folded, fused Snake, optional bf16 autocast (mvlib.frontend.dac_fast)
        self.encoder = FastEncoder(stock, self.precision, compile_after_s=COMPILE_SNAKE_AFTER_S).to(
            self.device
        )
        del stock
        self.identity = {
            "frontend": "dac",
            "model": "dac_44khz_8kbps",
            "weights": weights,
            "weights_sha256": sha,
            "layer": "encoder (pre-quantization)",
            "sample_rate": self.sample_rate,
            "hop": self.hop,
            "loudness_lufs": cfg.loudness_lufs,
            "dim": self.dim,
            "preprocess": PREPROCESS_VERSION,
            "precision": self.precision,
        }
        slug = slug or f"file-{sha[:8]}"
        self.tag = f"dac-44khz-8kbps-{slug}-sr{self.sample_rate}-{lufs_slug(cfg.loudness_lufs)}"
        if self.precision != "fp32":  # fp32 keeps the tag of earlier stores' folders
            self.tag += f"-{self.precision}"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).transpose(1, 2)  # (B, 1024, T) -> (B, T, 1024)
