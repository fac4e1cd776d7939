"""The codec model: ``dac.model.DAC`` built from a profile's ``codec`` section, and its files.

A codec checkpoint is in DAC's own format, ``{"state_dict": ..., "metadata": {"kwargs":
<the dac.DAC arguments>, ...}}``, as ``model.save(path, package=False)`` writes it, so that
``dac.DAC.load(path)`` reads it. mvlib adds ``metadata["mvlib"]``: the codec's provenance
(name, step, CPU time, corpus, the resolved codec config), plain types only, so that
``torch.load(..., weights_only=True)`` reads it too.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from mvlib.core.cache import atomic_write_bytes
from mvlib.core.codec_config import CodecConfig
from mvlib.core.config import FeatureConfig
from mvlib.frontend.dac_weights import find_dac_weights_source, load_dac_weights

__all__ = ["build_codec", "codec_kwargs", "load_codec", "save_codec"]


def codec_kwargs(c: CodecConfig) -> dict[str, Any]:
    """The ``dac.DAC`` keyword arguments of a codec section."""
    return {
        "encoder_dim": c.encoder_dim,
        "encoder_rates": list(c.encoder_rates),
        "latent_dim": c.latent_dim,
        "decoder_dim": c.decoder_dim,
        "decoder_rates": list(c.decoder_rates),
        "n_codebooks": c.n_codebooks,
        "codebook_size": c.codebook_size,
        "codebook_dim": c.codebook_dim,
        "quantizer_dropout": c.quantizer_dropout,
        "sample_rate": c.sample_rate,
    }


def build_codec(c: CodecConfig, seed: int | None = None):
    """``dac.DAC(**codec_kwargs(c))``, initialised from ``seed`` (global RNG left untouched).

    Returns
    -------
    dac.DAC
        Encoder ``Tensor[B x 1 x N] -> Tensor[B x latent_dim x N / hop]``, hop the product of
        ``encoder_rates``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dac's weight_norm / jit deprecation warnings
        import dac  # optional heavy dependency: dac (slow to import; only for the codec)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed if seed is None else seed)
            model = dac.DAC(**codec_kwargs(c))
    hop = 1
    for r in c.encoder_rates:
        hop *= r
    assert int(model.hop_length) == hop, f"hop {model.hop_length} != {hop}"
    return model


def load_codec(weights: str | os.PathLike):
    """The whole codec (encoder, quantizer, decoder) of a DAC-format weights file, in eval mode.

    Parameters
    ----------
    weights : str or PathLike
        A file, or the name of a shipped codec (``mvlib-codec-22khz``); checked key by key
        against the architecture its metadata names.
    """
    path, where = find_dac_weights_source(
        FeatureConfig(frontend="dac", dac_weights=str(weights), allow_random_dac=False)
    )
    return load_dac_weights(path, where).eval()


def save_codec(model, path: str | os.PathLike, provenance: dict[str, Any]) -> Path:
    """Write ``model`` in DAC's format (atomically) with ``provenance`` as ``metadata["mvlib"]``.

    ``dac.DAC.load(path)`` reads the file back; its architecture is ``metadata["kwargs"]``.
    """
    path = Path(path)
    buf = io.BytesIO()
    # dac's BaseModel.save fills metadata["kwargs"] from the model's signature and attributes
    kwargs = {k: _plain(getattr(model, k)) for k in _DAC_ARGS if hasattr(model, k)}
    kwargs["quantizer_dropout"] = float(model.quantizer.quantizer_dropout)  # kept by the RVQ
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "metadata": {"kwargs": kwargs, "mvlib": provenance}}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


_DAC_ARGS = (
    "encoder_dim",
    "encoder_rates",
    "latent_dim",
    "decoder_dim",
    "decoder_rates",
    "n_codebooks",
    "codebook_size",
    "codebook_dim",
    "sample_rate",
)


def _plain(v: Any) -> Any:
    """Plain Python types (``weights_only`` loading refuses numpy scalars)."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item"):
        return v.item()
    return v
