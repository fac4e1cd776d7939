"""A trained run's frozen encoder, with its own frontend, applied to audio arrays and files.

The run's saved config and provenance name the frontend (log-mel, or DAC and its weights):
the same frontend is rebuilt here and its identity (weights hash, rate, hop, loudness)
checked against the run's, so embeddings are never made from other features than those the
encoder was trained on. A run whose frontend weights are not on this machine is refused.

Every recording goes through the training clips' path, with what was done recorded:

1. downmix to mono (channel mean);
2. resample to the frontend's rate (the pipeline's torchaudio resampler), once per file;
3. cut into windows of the training clips' length (``window_s``; default: the run's dataset
   clip length, 10 s for SONYC-UST-V2); a tail shorter than the 0.4 s loudness block joins the
   window before it;
4. per window, normalise loudness to the run's target (BS.1770) and right-pad to the hop, as
   for training clips;
5. frontend -> frames (``Tensor[B x T x D]``) -> encoder -> ``z_p``, ``z_s`` per frame.

Steps 3-5 are one loop, :meth:`AudioEmbedder.encode`, which ``mvlib embed``
(:meth:`AudioEmbedder.embed_wave`) and the HEAR API (:mod:`mvlib.embed.hear`) share, with one
policy for a window whose loudness cannot be measured (shorter than the 0.4 s block, or
below the -70 LUFS gate): it is embedded as it is, without gain, and listed
(``windows_unnormalised``). A recording none of whose windows can be measured (silence) is
refused by :meth:`AudioEmbedder.embed_wave`; the HEAR API, which must embed every sound,
embeds it as it is.

A clip-level embedding is the mean over all frames of the file (as for probes); frame-level
embeddings come with their times in seconds (frame centres, see :func:`frame_times`).
Batches of files into an output folder are :mod:`mvlib.embed.folders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mvlib.core.errors import MvlibError
from mvlib.frontend import dac_weights
from mvlib.frontend.audio import BadAudioError, load_audio
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.dac_weights import WeightsError
from mvlib.frontend.interface import Frontend, resolve_device
from mvlib.frontend.logmel import LOGMEL_N_FFT
from mvlib.frontend.preprocess import (
    LOUDNESS_BLOCK_S,
    n_frames,
    preprocess_with_info,
    resample,
)
from mvlib.ml.model import SUBSPACES, pick_subspace
from mvlib.ml.runs import checkpoint_of, load_run_model

__all__ = [
    "SONYC_CLIP_S",
    "EmbedError",
    "FileEmbedding",
    "AudioEmbedder",
    "frame_times",
]

#: SONYC-UST-V2 clips are 10 s long
SONYC_CLIP_S = 10.0


class EmbedError(MvlibError):
    """A run, an input list or an output folder that ``mvlib embed`` cannot use."""


def frame_times(frontend: Frontend, n: int, offset_samples: int = 0) -> np.ndarray:
    """Centre time (s) of ``n`` frames starting at ``offset_samples`` (frontend's rate).

    Log-mel frames are centred on sample ``t * hop`` (``center=True``); a DAC latent frame
    covers samples ``[t * hop, (t + 1) * hop)``, centred half a hop later.
    """
    shift = 0.0 if frontend.name == "logmel" else 0.5
    t = np.arange(n, dtype=np.float64)
    return (offset_samples + (t + shift) * frontend.hop) / frontend.sample_rate


def _run_frontend(cfg, run_identity: dict, device: str, where="run") -> Frontend:
    """The run's frontend rebuilt here, refusing other weights than the run's."""
    fc = cfg.features
    weights = str(run_identity.get("weights", ""))
    random_run = weights.startswith("random-init")
    overrides = {"features.device": device}
    if fc.frontend == "dac":
        # never fall back to random weights for a run trained on real ones (and vice versa)
        overrides["features.allow_random_dac"] = random_run
    cfg = cfg.replace(overrides)
    try:
        frontend = make_frontend(cfg.features)
    except WeightsError as e:
        sha = run_identity.get("weights_sha256", "?")
        raise EmbedError(
            where,
            f"trained on DAC weights {weights or '?'} (encoder sha256 {sha}), which are not on "
            "this machine",
            f"put that weights file at {dac_weights.DAC_CACHE_FILE} or set "
            f"${dac_weights.WEIGHTS_ENV}=<file>",
        ) from e
    mine = frontend.identity
    diff = sorted(
        k
        for k in set(mine) & set(run_identity)
        if k != "device" and str(mine[k]) != str(run_identity[k])
    )
    if diff:
        detail = ", ".join(f"{k}: run {run_identity[k]!r}, here {mine[k]!r}" for k in diff[:3])
        raise EmbedError(
            where,
            f"frontend {frontend.tag} here is not the one the run was trained on ({detail})",
            "use the weights file the run was trained with (its provenance.json names them)",
        )
    return frontend


def _default_window_s(cfg) -> float:
    return float(cfg.synth.duration_s) if cfg.data.source == "synth" else SONYC_CLIP_S


@dataclass
class FileEmbedding:
    """One file's embeddings and what was done to it."""

    path: Path
    name: str  #: output stem
    clip: np.ndarray  #: ndarray[D] time-mean of the chosen subspace(s)
    frames: np.ndarray | None  #: ndarray[T x D] frame-level, when asked
    times: np.ndarray | None  #: ndarray[T] frame centres (s)
    info: dict = field(default_factory=dict)


class AudioEmbedder:
    """A run's encoder and frontend, ready to embed audio arrays or files.

    Parameters
    ----------
    run_dir : a folder made by ``mvlib train`` (or a path to one of its checkpoints)
    subspace : "z_p" | "z_s" | "both" (``z_p ⊕ z_s``); models without a split (contrastive,
        supervised, frontend only) have one embedding, used whatever is asked
    which : checkpoint name, "best" or "last"
    window_s : window length in seconds (default: the run's training clip length)
    device : "auto" | "cpu" | "cuda" | "cuda:N"
    """

    def __init__(
        self,
        run_dir,
        subspace: str = "both",
        which: str = "best",
        window_s: float | None = None,
        device: str = "cpu",
    ):
        if subspace not in SUBSPACES:
            raise EmbedError(f"subspace {subspace!r}", "unknown", f"use one of {SUBSPACES}")
        run_dir, which = checkpoint_of(run_dir, which)  # a checkpoint: its run folder
        ckpt_path = run_dir / "checkpoints" / f"{which}.pt"
        if not ckpt_path.is_file():
            raise EmbedError(
                run_dir,
                f"not a trained run (no checkpoints/{which}.pt)",
                "pass a folder made by `mvlib train`",
            )
        self.device = resolve_device(device)
        self.model, self.cfg, ckpt = load_run_model(run_dir, which, device=self.device)
        prov = ckpt.get("provenance") or {}
        identity = dict(prov.get("feature_identity") or {"frontend": self.cfg.features.frontend})
        self.frontend = _run_frontend(self.cfg, identity, str(self.device), run_dir)
        if self.frontend.dim != ckpt["dim"]:
            raise EmbedError(
                run_dir,
                f"the model takes {ckpt['dim']}-dim frames, the frontend gives {self.frontend.dim}",
                "check the run's features settings",
            )
        self.run_dir, self.which, self.subspace = run_dir, which, subspace
        self.window_s = float(window_s) if window_s else _default_window_s(self.cfg)
        if self.window_s < LOUDNESS_BLOCK_S:
            raise EmbedError(
                f"window_s={self.window_s}", f"shorter than the {LOUDNESS_BLOCK_S} s loudness block"
            )
        hop, rate = self.frontend.hop, self.frontend.sample_rate
        self.window = -(-int(round(self.window_s * rate)) // hop) * hop  # samples, hop multiple
        self.identity = {
            "run": str(run_dir.resolve()),
            "checkpoint": which,
            "method": self.cfg.model.method,
            "profile": self.cfg.profile,
            "data_source": prov.get("data_source"),
            "git_commit": prov.get("git_commit"),
            "frontend": self.frontend.identity,
            "subspace": subspace,
            "window_s": self.window / rate,
        }

    # ----------------------------------------------------------------- arrays

    def _pick(self, emb: dict[str, np.ndarray]) -> np.ndarray:
        return pick_subspace(emb, self.subspace)

    @property
    def dim(self) -> int:
        """Size D of the embeddings returned."""
        x = np.zeros((1, 4, self.frontend.dim), np.float32)
        with torch.inference_mode():
            emb = self.model.embed(torch.from_numpy(x).to(self.device))
        return int(self._pick({k: v.cpu().numpy() for k, v in emb.items()}).shape[-1])

    def windows(self, mono: np.ndarray) -> list[tuple[int, int]]:
        """``(start, stop)`` sample ranges of the windows of a mono signal at the frontend rate."""
        n, w = len(mono), self.window
        bounds = [(s, min(s + w, n)) for s in range(0, max(n, 1), w)]
        short = LOUDNESS_BLOCK_S * self.frontend.sample_rate
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < short:
            bounds[-2:] = [(bounds[-2][0], n)]  # a tail too short to normalise joins its window
        return bounds

    def encode(self, waves: np.ndarray, path="<array>") -> tuple[torch.Tensor, np.ndarray, list]:
        """The one window -> frontend -> encoder loop: embeddings of mono sounds of one length.

        Each window of each sound is loudness-normalised on its own (a window that cannot be
        measured is passed on as it is, see the module docstring), so that a sound's
        embeddings do not depend on the others in the batch.

        Parameters
        ----------
        waves : ndarray[B x N], mono, at the frontend's rate

        Returns
        -------
        z : Tensor[B x T x D] float32, on :attr:`device`
        times : ndarray[T], frame centres in seconds
        windows : list of dicts, one per window: ``start_s``, ``stop_s``, and per sound
            ``gain_db`` (None: not measurable) and ``reasons`` (why not, or None)
        """
        fe, rate, hop = self.frontend, self.frontend.sample_rate, self.frontend.hop
        parts, times, windows = [], [], []
        for start, stop in self.windows(waves[0]):
            done = [_normalised(w[start:stop], rate, self.cfg.features, path) for w in waves]
            batch = np.stack([x for x, _g, _r in done])  # (B, N_w), padded to the hop
            n_want = n_frames(stop - start, hop)
            if batch.shape[1] < LOGMEL_N_FFT:  # the STFT's reflect padding needs > n_fft / 2
                batch = np.pad(batch, ((0, 0), (0, LOGMEL_N_FFT - batch.shape[1])))
            x = torch.from_numpy(batch).to(self.device)[:, None]  # (B, 1, N_w)
            feats = fe(x)[:, :n_want]  # (B, T_w, D_f)
            with torch.inference_mode():
                out = self.model.embed(feats.to(self.device))
            z = self._pick({k: v.float() for k, v in out.items()})  # (B, T_w, D)
            assert z.shape[:2] == (len(waves), n_want), z.shape
            parts.append(z)
            times.append(frame_times(fe, n_want, start))
            windows.append(
                {
                    "start_s": start / rate,
                    "stop_s": stop / rate,
                    "gain_db": [g for _x, g, _r in done],
                    "reasons": [r for _x, _g, r in done],
                }
            )
        return torch.cat(parts, dim=1), np.concatenate(times), windows

    def embed_wave(self, wave: np.ndarray, sr: int, path="<array>") -> tuple[dict, dict]:
        """Frame-level embeddings of one recording.

        Parameters
        ----------
        wave : ndarray[C x N] or ndarray[N], samples at ``sr``

        Returns
        -------
        out : {"frames": ndarray[T x D], "times": ndarray[T] (s), "clip": ndarray[D]}
        info : what was done (source rate/channels, resampling, downmix, windows, loudness)

        Raises
        ------
        BadAudioError
            Shorter than the loudness block, or every window too quiet to normalise (a
            quiet window among others is embedded as it is, listed in
            ``info["windows_unnormalised"]``).
        """
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            wave = wave[None]  # (1, N)
        assert wave.ndim == 2, f"{path}: expected wave[C x N], got {wave.shape}"
        rate = self.frontend.sample_rate
        mono = wave.mean(axis=0, dtype=np.float64)  # (N,) downmix
        if sr != rate:
            mono = resample(mono, sr, rate)  # the pipeline's resampler (as in training)
        if len(mono) < LOUDNESS_BLOCK_S * rate:
            raise BadAudioError(
                path, f"too short: {len(mono) / rate:.3f} s; needs >= {LOUDNESS_BLOCK_S} s"
            )
        z, t, windows = self.encode(mono[None], path)
        unmeasured = [
            {"start_s": w["start_s"], "stop_s": w["stop_s"], "reason": w["reasons"][0]}
            for w in windows
            if w["gain_db"][0] is None
        ]
        if len(unmeasured) == len(windows):
            raise BadAudioError(
                path, f"every window is too quiet to normalise ({unmeasured[0]['reason']})"
            )
        f = z[0].cpu().numpy()  # (T, D)
        gains = [w["gain_db"][0] for w in windows]
        info = {
            "source_sample_rate": int(sr),
            "source_channels": int(wave.shape[0]),
            "source_seconds": round(wave.shape[1] / sr, 4),
            "resampled_to": rate,
            "resampled": sr != rate,
            "downmixed": wave.shape[0] > 1,
            "windows": len(windows),
            "windows_unnormalised": unmeasured,
            "gain_db": [None if g is None else round(float(g), 3) for g in gains],
            "frames": int(f.shape[0]),
        }
        return {"frames": f, "times": t, "clip": f.mean(0)}, info

    def embed_file(self, path, name: str | None = None, frames: bool = True) -> FileEmbedding:
        """Read and embed one file (raises BadAudioError when it cannot be used)."""
        path = Path(path)
        wave, sr = load_audio(path)  # (C, N)
        out, info = self.embed_wave(wave, sr, path)
        return FileEmbedding(
            path,
            name or path.stem,
            out["clip"],
            out["frames"] if frames else None,
            out["times"] if frames else None,
            info,
        )


def _normalised(wave: np.ndarray, rate: int, cfg, path="<array>") -> tuple:
    """One window loudness-normalised and padded to the hop, with its gain (dB).

    A window whose loudness cannot be measured (shorter than the 0.4 s block, or below the
    -70 LUFS gate) is passed on as it is, padded to the hop: ``(x, None, reason)``.
    """
    try:
        x, info = preprocess_with_info(wave, rate, cfg, path)
        return x, info["gain_db"], None
    except BadAudioError as e:
        pad = n_frames(len(wave), cfg.hop) * cfg.hop - len(wave)
        return np.pad(wave, (0, pad)).astype(np.float32), None, e.reason
