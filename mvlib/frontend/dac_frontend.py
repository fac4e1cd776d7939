"""The DAC frontend: pre-quantization latents of a DAC-architecture encoder (paper 3.2).

``model.encoder(x)`` (not ``encode()``'s quantized ``z``): with the 44.1 kHz / 8 kbps
weights, 10 s -> (862, 1024); with the codec that ships with mvlib (22.05 kHz, hop 320),
10 s -> (690, 64). The weights are found and checked by :mod:`mvlib.frontend.dac_weights`,
which reads the architecture from the file; only the encoder is kept, as a
:class:`mvlib.frontend.dac_fast.FastEncoder`.
"""

from __future__ import annotations

import torch

from mvlib.core.config import FeatureConfig
from mvlib.core.errors import MvlibError
from mvlib.core.registry import FRONTENDS
from mvlib.frontend.codecs import SHIPPED_CODECS
from mvlib.frontend.dac_fast import FastEncoder, resolve_precision
from mvlib.frontend.dac_weights import (
    DAC_OFFICIAL_TAG,
    arch_label,
    architecture,
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
    """Pre-quantization latents of a DAC-architecture encoder (paper 3.2).

    Weights, first found wins: ``cfg.dac_weights`` (a file, or a shipped codec's name such
    as ``mvlib-codec-22khz``); ``$MVLIB_DAC_WEIGHTS``; dac's cache file
    ``~/.cache/descript/dac/weights_44khz_8kbps_0.0.1.pth``; ``dac.utils.download()`` (only
    if github.com is reachable); else, if ``cfg.allow_random_dac``, a seeded random init
    (with a warning: such features are *not* the paper's); else :class:`WeightsError`. A weights
    file must hold exactly the state-dict keys and shapes of the architecture its metadata
    names (checked here, since ``dac.DAC.load`` loads with ``strict=False``); its sample
    rate and hop must be ``cfg``'s (:func:`mvlib.load_config` sets them from the file). Only the encoder is kept, as a
    :class:`mvlib.frontend.dac_fast.FastEncoder` (``self.encoder``: weight norm folded, fused Snake)
    at ``cfg.precision`` ("auto" resolved here; the identity records the resolved value, and
    a non-fp32 precision is appended to the tag, e.g. ``...-lufs-24-bf16``).
    """

    name = "dac"

    def __init__(self, cfg: FeatureConfig):
        self.device = resolve_device(cfg.device)
        path, where = find_dac_weights_source(cfg)
        arch: dict = {}
        if path is not None:
            model = load_dac_weights(path, where)
            arch = architecture(model.metadata, path, where)
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
        for field, have in (("sample_rate", self.sample_rate), ("hop", self.hop)):
            if getattr(cfg, field) != have:
                raise MvlibError(
                    f"features.{field}",
                    f"{getattr(cfg, field)}: the codec's {field} is {have} ({arch_label(arch)})",
                    f"set features.{field}={have} (mvlib.load_config reads it from the weights)",
                )
        stock = model.encoder.eval().requires_grad_(False)
        del model  # decoder and quantizer are not needed: free their ~54 M parameters
        sha = state_dict_sha256(stock.state_dict())  # the stock (weight-normed) tensors
        self.precision = resolve_precision(cfg.precision, self.device)
        # weight norm folded, fused Snake, optional bf16 autocast (mvlib.frontend.dac_fast)
        self.encoder = FastEncoder(
            stock,
            self.precision,
            compile_after_s=COMPILE_SNAKE_AFTER_S,
            sample_rate=self.sample_rate,
        ).to(self.device)
        del stock
        self.identity = {
            "frontend": "dac",
            "model": "dac_44khz_8kbps" if not arch else arch_label(arch),
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
        if weights in SHIPPED_CODECS:
            slug = f"{weights}-{sha[:8]}"  # the weights' hash: a retrained codec, a new store
        model_slug = "dac-44khz-8kbps-" if not arch else "dac-"
        self.tag = f"{model_slug}{slug}-sr{self.sample_rate}-{lufs_slug(cfg.loudness_lufs)}"
        if self.precision != "fp32":  # an fp32 store's tag names no precision
            self.tag += f"-{self.precision}"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).transpose(1, 2)  # (B, 1024, T) -> (B, T, 1024)
