"""The log-mel frontend: a log-mel spectrogram with DAC's hop, so frame counts equal DAC's."""

from __future__ import annotations

import torch
import torchaudio

from mvlib.core.config import FeatureConfig
from mvlib.core.registry import FRONTENDS
from mvlib.frontend.interface import Frontend, lufs_slug, resolve_device, state_dict_sha256
from mvlib.frontend.preprocess import PREPROCESS_VERSION

__all__ = ["LOGMEL_EPS", "LOGMEL_N_FFT", "LogMelFrontend"]

#: log-mel frontend: FFT size (2048 at 44.1 kHz = 46 ms) and the log floor
LOGMEL_N_FFT = 2048
LOGMEL_EPS = 1e-6


@FRONTENDS.register("logmel")
class LogMelFrontend(Frontend):
    """Log-mel spectrogram with DAC's hop, so frame counts equal DAC's.

    ``torchaudio`` MelSpectrogram (n_fft 2048, hop 512, Hann window, power 2, HTK mel scale,
    ``center=True``), then ``ln(mel + 1e-6)``. With ``center=True`` a clip of N samples
    gives ``1 + N // hop`` frames (frame t centred on sample t * hop); for N a multiple of
    hop (always so after :func:`preprocess`) that is ``N / hop + 1``, and the last frame,
    centred on the padding beyond the clip, is dropped to give ``ceil(N / hop)``.
    """

    name = "logmel"

    def __init__(self, cfg: FeatureConfig):
        self.hop = cfg.hop
        self.sample_rate = cfg.sample_rate
        self.dim = cfg.n_mels
        self.device = resolve_device(cfg.device)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=LOGMEL_N_FFT,
            hop_length=cfg.hop,
            n_mels=cfg.n_mels,
            center=True,
            power=2.0,
        ).to(self.device)
        self.identity = {
            "frontend": "logmel",
            "weights": "none",
            "weights_sha256": state_dict_sha256(self.mel.state_dict()),
            "n_mels": cfg.n_mels,
            "n_fft": LOGMEL_N_FFT,
            "log": f"ln(mel+{LOGMEL_EPS:g})",
            "sample_rate": cfg.sample_rate,
            "hop": cfg.hop,
            "loudness_lufs": cfg.loudness_lufs,
            "dim": self.dim,
            "preprocess": PREPROCESS_VERSION,
        }
        self.tag = (
            f"logmel{cfg.n_mels}-sr{cfg.sample_rate}-hop{cfg.hop}-{lufs_slug(cfg.loudness_lufs)}"
        )

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.mel(x[:, 0])  # (B, n_mels, N / hop + 1)
        spec = spec[..., : x.shape[-1] // self.hop]  # drop the frame centred past the end
        return torch.log(spec + LOGMEL_EPS).transpose(1, 2)  # (B, T, n_mels)
