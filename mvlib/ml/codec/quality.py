"""A codec's reconstruction quality: DAC's mel distance and SI-SDR on held-out audio.

* mel distance: DAC's multi-scale mel loss (:func:`mvlib.ml.codec.losses.mel_distance`),
  lower is better;
* SI-SDR (scale-invariant signal-to-distortion ratio, Le Roux et al. 2019), in dB, higher
  is better: ``10 log10(|a s|^2 / |a s - y|^2)`` with ``a = <y, s> / |s|^2``, ``s`` the
  reference and ``y`` the reconstruction.

Both are measured per clip with the codec in eval mode (every codebook used) and averaged.
"""

from __future__ import annotations

import numpy as np
import torch

from mvlib.ml.codec.corpus import Corpus
from mvlib.ml.codec.losses import mel_distance

__all__ = ["reconstruct", "reconstruction_quality", "si_sdr"]


def si_sdr(y: np.ndarray, s: np.ndarray, eps: float = 1e-12) -> float:
    """SI-SDR in dB of the estimate ``y`` against the reference ``s`` (1-D, same length)."""
    y, s = np.asarray(y, np.float64), np.asarray(s, np.float64)
    assert y.shape == s.shape and y.ndim == 1, f"shapes {y.shape} vs {s.shape}"
    a = np.dot(y, s) / (np.dot(s, s) + eps)
    target = a * s
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.sum((target - y) ** 2) + eps)))


@torch.no_grad()
def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    """The codec's reconstruction of ``x: Tensor[B x 1 x N]`` (eval mode, all codebooks).

    Returns ``Tensor[B x 1 x N']``, ``N' <= N`` (an odd decoder rate drops a few samples).
    """
    was = model.training
    model.eval()
    try:
        return model(x, int(model.sample_rate))["audio"]
    finally:
        model.train(was)


def reconstruction_quality(model, corpus: Corpus, n_clips: int = 40) -> dict[str, float]:
    """Mean mel distance and SI-SDR over the first ``n_clips`` held-out corpus clips."""
    ids = corpus.heldout[:n_clips]
    assert len(ids), "the corpus holds out no sensor (codec.heldout_sensors = 0)"
    device = next(model.parameters()).device
    mel, sdr = [], []
    for i in ids:
        x = torch.from_numpy(np.array(corpus.clip(int(i))))[None, None].to(device)  # (1, 1, N)
        y = reconstruct(model, x)
        mel.append(float(mel_distance(y, x, int(model.sample_rate))))
        n = y.shape[-1]
        sdr.append(si_sdr(y[0, 0].cpu().numpy(), x[0, 0, :n].cpu().numpy()))
    return {
        "mel_distance": float(np.mean(mel)),
        "si_sdr_db": float(np.mean(sdr)),
        "n_clips": len(ids),
    }
