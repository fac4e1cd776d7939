"""The frontend interface: a callable that turns preprocessed audio into (frames, D) features.

Every frontend (the built-in :class:`~mvlib.frontend.logmel.LogMelFrontend` and
:class:`~mvlib.frontend.dac_frontend.DACFrontend`, or a researcher's own, registered with
:func:`mvlib.register_frontend`) derives from :class:`Frontend`: it is built from the
:class:`~mvlib.core.config.FeatureConfig`, states its ``identity`` (what made its features:
stores refuse to mix identities) and a folder-safe ``tag``, and maps
``Tensor[B x 1 x N] -> Tensor[B x T x D]`` with ``T = ceil(N / hop)``.
"""

from __future__ import annotations

import abc
import hashlib
from typing import Any

import torch

from mvlib.frontend.preprocess import n_frames, pad_to_hop

__all__ = ["Frontend", "lufs_slug", "resolve_device", "state_dict_sha256"]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def state_dict_sha256(state: dict[str, torch.Tensor], n: int = 16) -> str:
    """Short sha256 over names, dtypes, shapes and bytes of a state dict (sorted keys)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:n]


def lufs_slug(lufs: float) -> str:
    """The loudness target in folder tags: ``-24.0`` -> ``lufs-24``."""
    return f"lufs{lufs:g}"


class Frontend(abc.ABC):
    """Common interface: ``frontend(x: Tensor[B x 1 x N]) -> Tensor[B x T x D]``.

    Attributes
    ----------
    name : str
        The name it is registered under (``"dac"``, ``"logmel"``, or a plugin's).
    dim, hop, sample_rate : int
        Feature size D, hop in samples, input rate.
    identity : dict
        What made the features (frontend, weights, hash, rate, hop, loudness): stores refuse
        to mix features of different identities.
    tag : str
        Folder-safe name of the identity, e.g. ``logmel128-sr44100-hop512-lufs-24``.
    device : torch.device
    """

    name: str
    dim: int
    hop: int
    sample_rate: int
    identity: dict[str, Any]
    tag: str
    device: torch.device

    @abc.abstractmethod
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B x 1 x N] (N a multiple of hop) -> Tensor[B x T x D]."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch of preprocessed clips.

        Parameters
        ----------
        x : Tensor[B x 1 x N]
            Mono audio at ``sample_rate``; right-padded to a multiple of hop here if needed.

        Returns
        -------
        Tensor[B x T x D] float32 on ``device``, ``T = ceil(N / hop)``.
        """
        assert x.ndim == 3 and x.shape[1] == 1, f"expected Tensor[B x 1 x N], got {tuple(x.shape)}"
        n = x.shape[-1]
        with torch.inference_mode():
            x = pad_to_hop(x.to(self.device, torch.float32), self.hop)
            z = self._features(x)
        assert z.shape == (x.shape[0], n_frames(n, self.hop), self.dim), f"bad shape {z.shape}"
        return z

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tag={self.tag!r}, device={self.device})"
