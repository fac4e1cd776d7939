"""Audio preprocessing of the paper (3.2): resample, normalise loudness, pad to the hop.

Preprocessing follows the paper, which follows DAC: downmix to mono, resample to
44.1 kHz, normalise the integrated loudness (ITU-R BS.1770) to -24 LUFS, right-pad to a
multiple of the hop (DAC's ``model.preprocess``). It runs batched in torch on the
frontend's device (:func:`preprocess_batch`); :func:`preprocess` is one clip on the CPU.

Clipping guard (our choice, as DAC's own ``compress`` does with ``ensure_max_of_audio``): when
the loudness gain would push the peak above full scale (|x| > 1), the whole clip is scaled down
so that its peak is exactly 1. The clip is then quieter than the target; the loudness actually
reached is recorded (:func:`preprocess_with_info`) and stored with every latent.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from mvlib.core.config import FeatureConfig
from mvlib.frontend.audio import BadAudioError, mono_downmix
from mvlib.frontend.loudness import integrated_loudness

__all__ = [
    "LOUDNESS_BLOCK_S",
    "PREPROCESS_VERSION",
    "RESAMPLE_KW",
    "n_frames",
    "pad_to_hop",
    "preprocess",
    "preprocess_batch",
    "preprocess_with_info",
    "resample",
]

#: pyloudnorm's gating block: shorter clips have no defined integrated loudness
LOUDNESS_BLOCK_S = 0.4


def n_frames(n_samples: int, hop: int = 512) -> int:
    """Frames a clip of ``n_samples`` gives at ``hop``: ``ceil(n_samples / hop)``."""
    assert n_samples >= 0 and hop > 0, f"bad n_samples={n_samples}, hop={hop}"
    return -(-int(n_samples) // int(hop))


#: resampler (torchaudio's "kaiser_best": 64 zero crossings, Kaiser window), the same on CPU
#: and GPU (PREPROCESS_VERSION names it in every store identity).
RESAMPLE_KW = {
    "lowpass_filter_width": 64,
    "rolloff": 0.9475937167399596,
    "resampling_method": "sinc_interp_kaiser",
    "beta": 14.769656459379492,
}
#: what preprocessing did, recorded in each frontend's identity: a store made by another
#: preprocessing (e.g. soxr resampling, pyloudnorm loudness) refuses to mix with these features
PREPROCESS_VERSION = "mono-mean|torchaudio-kaiser-best|bs1770-torch|peak-guard|pad-right"


def resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """np.ndarray[..., N] at ``sr`` -> float32 at ``rate``: the resampler of the pipeline
    (torchaudio, ``RESAMPLE_KW``), so that all audio meets the frontend the same way."""
    if sr == rate:
        return np.asarray(x, dtype=np.float32)
    y = AF.resample(torch.from_numpy(np.asarray(x, dtype=np.float32)), sr, rate, **RESAMPLE_KW)
    return y.numpy()


def preprocess_batch(
    mono: torch.Tensor, sr: int, cfg: FeatureConfig, source_channels: list[int] | None = None
) -> tuple[torch.Tensor, list[dict[str, Any] | str]]:
    """Resample, normalise loudness (BS.1770) and pad a batch of mono clips, on their device.

    Batched in torch so that it runs on the GPU beside the encoder (:mod:`mvlib.frontend.loudness`:
    within ~1e-6 LU of pyloudnorm); the CPU computes the same function.

    Parameters
    ----------
    mono : Tensor[B x N]
        Mono clips of equal length at rate ``sr`` (any device).
    sr : int
        Their sample rate.
    cfg : FeatureConfig
        ``sample_rate``, ``loudness_lufs``, ``hop``.
    source_channels : list of int, optional
        Channels of each source file (recorded in the info).

    Returns
    -------
    x : Tensor[B x N'] float32
        ``N'`` a multiple of ``cfg.hop``; peak limited to 1 (see the module docstring). Rows
        of rejected clips are zeros.
    infos : list of (dict or str)
        Per clip, the info of :func:`preprocess_with_info`, or the reason it was rejected
        (too short for a loudness block, or below the -70 LUFS gate).
    """
    assert mono.ndim == 2, f"expected Tensor[B x N], got {tuple(mono.shape)}"
    b, n_src = mono.shape
    rate = cfg.sample_rate
    y = mono.float()
    if sr != rate:
        y = AF.resample(y, sr, rate, **RESAMPLE_KW)  # (B, ceil(N * rate / sr))
    n = y.shape[-1]
    channels = source_channels or [1] * b
    if n < LOUDNESS_BLOCK_S * rate:
        why = f"too short: {n / rate:.3f} s; loudness needs >= {LOUDNESS_BLOCK_S} s"
        return torch.zeros(b, n_frames(n, cfg.hop) * cfg.hop, device=y.device), [why] * b
    loud = integrated_loudness(y, rate)  # (B,) float64
    ok = torch.isfinite(loud)
    gain_db = torch.where(ok, cfg.loudness_lufs - loud, torch.zeros_like(loud))  # (B,)
    y = y * (10.0 ** (gain_db / 20.0)).float()[:, None]  # (B, N)
    peak = y.abs().amax(dim=1).double()  # (B,)
    limited = peak > 1.0
    scale = torch.where(limited, peak, torch.ones_like(peak))
    y = y / scale.float()[:, None]
    gain_db = gain_db - 20.0 * torch.log10(scale)
    y = torch.where(ok[:, None], y, torch.zeros_like(y))
    x = pad_to_hop(y, cfg.hop)  # (B, N'), right-padded like dac's model.preprocess
    stats = torch.stack([loud, gain_db, limited.double()], dim=1).cpu().tolist()  # (B, 3)
    infos: list[dict[str, Any] | str] = []
    for (lin, g, lim), ch in zip(stats, channels):
        if not math.isfinite(lin):
            infos.append("too quiet: no block above the -70 LUFS loudness gate")
            continue
        infos.append(
            {
                "source_sample_rate": int(sr),
                "source_channels": int(ch),
                "source_samples": int(n_src),
                "samples": int(n),
                "loudness_in": round(float(lin), 4),
                "gain_db": round(float(g), 4),
                "peak_limited": bool(lim),
                "loudness_out": round(float(lin + g), 4),
            }
        )
    return x, infos


def preprocess_with_info(
    wave: np.ndarray, sr: int, cfg: FeatureConfig, path: str | os.PathLike = "<array>"
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`preprocess`, also returning what was done (loudness in/out, gain, peak guard).

    One clip through :func:`preprocess_batch` on the CPU.

    Returns
    -------
    x : np.ndarray[N'] float32
        Mono, ``cfg.sample_rate``, loudness-normalised, right-padded to a multiple of hop.
    info : dict
        ``source_sample_rate``, ``source_channels``, ``source_samples``, ``samples`` (before
        padding), ``loudness_in`` (LUFS at the target rate), ``gain_db``, ``peak_limited``,
        ``loudness_out`` (LUFS reached; below target iff peak_limited).
    """
    wave = np.asarray(wave, dtype=np.float32)
    channels = 1 if wave.ndim == 1 else int(wave.shape[0])
    mono = torch.from_numpy(mono_downmix(wave))[None]  # (1, N)
    x, (info,) = preprocess_batch(mono, sr, cfg, [channels])
    if isinstance(info, str):
        raise BadAudioError(path, info)
    return x[0].numpy(), info


def preprocess(
    wave: np.ndarray, sr: int, cfg: FeatureConfig, path: str | os.PathLike = "<array>"
) -> np.ndarray:
    """Downmix, resample (torchaudio kaiser_best), normalise loudness (BS.1770), pad to hop.

    Parameters
    ----------
    wave : np.ndarray[C x N] or np.ndarray[N]
        Samples at rate ``sr``.
    sr : int
        Their sample rate.
    cfg : FeatureConfig
        ``sample_rate``, ``loudness_lufs``, ``hop``.
    path : str, optional
        Named in errors.

    Returns
    -------
    np.ndarray[N'] float32
        ``N'`` a multiple of ``cfg.hop``. Peak limited to 1 (see the module docstring).

    Raises
    ------
    BadAudioError
        Shorter than the 0.4 s loudness block, or below the absolute loudness gate.
    """
    return preprocess_with_info(wave, sr, cfg, path)[0]


def pad_to_hop(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Tensor[..., N] -> Tensor[..., N'] right-padded with zeros to a multiple of ``hop``."""
    n = x.shape[-1]
    return torch.nn.functional.pad(x, (0, n_frames(n, hop) * hop - n))
