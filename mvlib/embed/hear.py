"""The HEAR-2021 common API for a trained mvlib run, so that hear-eval-kit can score it.

::

    import mvlib.embed.hear as hear
    model = hear.load_model("runs/…/multiview-cos_minus-…")   # a run folder or its checkpoint
    scene = hear.get_scene_embeddings(audio, model)              # Tensor[n_sounds x D]
    frames, ms = hear.get_timestamp_embeddings(audio, model)     # [n x T x D], [n x T] ms

``audio`` is ``Tensor[n_sounds x n_samples]``, mono, at ``model.sample_rate`` (the run's
frontend rate, 44.1 kHz), on any device: the model follows ``model.to(device)``. Each sound
goes through the training clips' path, the one loop that ``mvlib embed`` uses too
(:meth:`mvlib.embed.audio.AudioEmbedder.encode`): windows of the training clip length, loudness
normalised per window (a window too short or too quiet to measure is passed on as it is, so
that every sound gets embeddings, silence too; one shorter than the STFT is zero-padded and
its extra frames dropped), the run's frontend (its weights checked against the run's
provenance), then the frozen encoder. The embedding is ``z_p ⊕ z_s``
(``subspace="both"``; or ``"z_p"`` / ``"z_s"``) per frontend frame, one every
``hop / sample_rate`` (11.6 ms), timestamped at the frame centre in milliseconds; the scene
embedding is the mean over a sound's frames. Sounds are embedded independently of each other.

``hear-validator mvlib.embed.hear -m RUN_DIR`` checks this module (see the README).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mvlib.core.errors import MvlibError
from mvlib.embed.audio import AudioEmbedder


class HearModel(nn.Module):
    """A run's frontend and frozen encoder as one ``torch.nn.Module`` (HEAR-2021 API).

    Attributes
    ----------
    sample_rate : int
        Rate the audio must have (the frontend's).
    scene_embedding_size, timestamp_embedding_size : int
        D of the embeddings returned.
    embedder : :class:`mvlib.embed.audio.AudioEmbedder`
        The run (config, frontend identity, window).
    """

    def __init__(self, embedder: AudioEmbedder):
        super().__init__()
        self.embedder = embedder
        self.encoder = embedder.model  # registered: moves with .to(device)
        fe = embedder.frontend
        # the frontend's torch modules, registered so that .to(device) moves them too
        self.frontend_module = fe.mel if hasattr(fe, "mel") else getattr(fe, "encoder", None)
        self.sample_rate = int(fe.sample_rate)
        self.scene_embedding_size = int(embedder.dim)
        self.timestamp_embedding_size = int(embedder.dim)
        self.identity = embedder.identity
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def _sync_device(self) -> None:
        dev = self.device
        self.embedder.device = dev
        self.embedder.frontend.device = dev

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Frame embeddings and their times of a batch of sounds.

        Parameters
        ----------
        audio : Tensor[n_sounds x n_samples]
            Mono, at ``sample_rate``.

        Returns
        -------
        embeddings : Tensor[n_sounds x T x D] float32, on ``audio``'s device
        timestamps : Tensor[n_sounds x T] float32, milliseconds (frame centres)
        """
        if audio.ndim != 2:
            raise ValueError(
                f"expected audio Tensor[n_sounds x n_samples], got {tuple(audio.shape)}"
            )
        self._sync_device()
        n_sounds, n = audio.shape
        if n_sounds == 0:
            raise ValueError("expected at least one sound")
        waves = audio.detach().to("cpu", torch.float64).numpy()  # (B, N) loudness is numpy
        z, t, _windows = self.embedder.encode(waves)  # (B, T, D), (T,) s
        t = t * 1000.0  # (T,) ms
        rate = self.sample_rate
        keep = max(1, int((t <= 1000.0 * n / rate + 1e-6).sum()))  # centres inside the sound
        z, t = z[:, :keep], t[:keep]
        ts = torch.as_tensor(t, dtype=torch.float32, device=audio.device)
        return z.to(audio.device), ts[None].expand(n_sounds, -1).contiguous()


def load_model(model_file_path: str = "", subspace: str = "both", device: str = "cpu") -> HearModel:
    """The HEAR model of a run folder (or of one of its checkpoints ``checkpoints/<which>.pt``)."""
    if not model_file_path:
        raise MvlibError(
            "model_file_path", "mvlib ships no pretrained model", "pass a run folder (-m RUN_DIR)"
        )
    return HearModel(AudioEmbedder(model_file_path, subspace=subspace, device=device))


def get_timestamp_embeddings(audio: Tensor, model: HearModel) -> tuple[Tensor, Tensor]:
    """``(Tensor[n_sounds x T x D], Tensor[n_sounds x T])``: frame embeddings, times in ms."""
    with torch.inference_mode():
        return model(audio)


def get_scene_embeddings(audio: Tensor, model: HearModel) -> Tensor:
    """``Tensor[n_sounds x D]``: the mean of each sound's frame embeddings."""
    emb, _ = get_timestamp_embeddings(audio, model)
    return emb.mean(dim=1)
