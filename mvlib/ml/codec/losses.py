"""The codec's training losses, all from ``dac.nn.loss`` (DAC's recipe, paper 3.2's codec).

``total = mel_weight * L_mel + l1_weight * L_1 + commitment_weight * L_commit
+ codebook_weight * L_codebook [+ gan_weight * L_gen + feature_weight * L_feat]``:

* ``L_mel``: :class:`dac.nn.loss.MelSpectrogramLoss` with DAC's settings (7 scales, windows
  32 ... 2048, 5 ... 320 mel bands, log10 magnitudes, L1);
* ``L_1``: :class:`dac.nn.loss.L1Loss` on the waveform;
* ``L_commit``, ``L_codebook``: the residual VQ's losses that ``dac.DAC.forward`` returns;
* with ``codec.gan``: :class:`dac.model.Discriminator` (multi-period and multi-resolution
  band discriminators) through :class:`dac.nn.loss.GANLoss` (least-squares GAN and
  feature matching).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from mvlib.core.codec_config import CodecConfig

__all__ = ["CodecLosses", "mel_distance"]

#: DAC's multi-scale mel loss (conf/base.yml of descript-audio-codec)
MEL_WINDOWS = [32, 64, 128, 256, 512, 1024, 2048]
MEL_BANDS = [5, 10, 20, 40, 80, 160, 320]


def _dac_loss():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dac.nn.loss  # optional heavy dependency: dac (only for the codec)
    return dac.nn.loss


def _signal(x: torch.Tensor, sample_rate: int):
    from audiotools import AudioSignal  # optional heavy dependency: audiotools (codec only)

    with warnings.catch_warnings():  # "stft_data changed shape": audiotools recomputes it
        warnings.simplefilter("ignore", UserWarning)
        return AudioSignal(x, sample_rate)


def mel_loss_module() -> nn.Module:
    """DAC's multi-scale mel loss as DAC trains with it."""
    return _dac_loss().MelSpectrogramLoss(
        n_mels=MEL_BANDS,
        window_lengths=MEL_WINDOWS,
        mel_fmin=[0.0] * len(MEL_WINDOWS),
        mel_fmax=[None] * len(MEL_WINDOWS),
        pow=1.0,
        clamp_eps=1.0e-5,
        mag_weight=0.0,
    )


def _common_length(y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both cut to the shorter length: an odd decoder rate (5) returns a few samples fewer."""
    n = min(y.shape[-1], x.shape[-1])
    return y[..., :n], x[..., :n]


def mel_distance(y: torch.Tensor, x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """DAC's multi-scale mel distance between ``y`` and ``x``, both ``Tensor[B x 1 x N]``."""
    y, x = _common_length(y, x)
    return mel_loss_module()(_signal(y, sample_rate), _signal(x, sample_rate))


class CodecLosses(nn.Module):
    """The weighted sum of DAC's losses for one batch (see the module)."""

    def __init__(self, c: CodecConfig):
        super().__init__()
        loss = _dac_loss()
        self.c = c
        self.mel = mel_loss_module()
        self.l1 = loss.L1Loss()
        self.discriminator = None
        if c.gan:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import dac  # optional heavy dependency (see _dac_loss)

                self.discriminator = dac.model.Discriminator(sample_rate=c.sample_rate)

    def discriminator_loss(self, disc: nn.Module, y: torch.Tensor, x: torch.Tensor):
        """The discriminator's least-squares loss on ``y`` (decoded) against ``x`` (real)."""
        gan = _dac_loss().GANLoss(disc)
        sr = self.c.sample_rate
        y, x = _common_length(y, x)
        return gan.discriminator_loss(_signal(y, sr), _signal(x, sr))

    def forward(self, y: torch.Tensor, x: torch.Tensor, out: dict, disc: nn.Module | None):
        """The loss terms and ``total`` for decoded ``y`` and input ``x``, ``Tensor[b x 1 x N]``.

        ``out`` is ``dac.DAC.forward``'s dict (its VQ losses); ``disc`` the (wrapped)
        discriminator when ``codec.gan``.
        """
        c, sr = self.c, self.c.sample_rate
        y, x = _common_length(y, x)
        ys, xs = _signal(y, sr), _signal(x, sr)
        terms = {
            "mel": self.mel(ys, xs),
            "l1": self.l1(ys, xs),
            "commitment": out["vq/commitment_loss"].mean(),
            "codebook": out["vq/codebook_loss"].mean(),
        }
        total = (
            c.mel_weight * terms["mel"]
            + c.l1_weight * terms["l1"]
            + c.commitment_weight * terms["commitment"]
            + c.codebook_weight * terms["codebook"]
        )
        if disc is not None:
            gen, feat = _dac_loss().GANLoss(disc).generator_loss(ys, xs)
            terms["gen"], terms["feature"] = gen, feat
            total = total + c.gan_weight * gen + c.feature_weight * feat
        terms["total"] = total
        return terms
