"""Audio preprocessing and the two frontends that turn a clip into (frames, D) features.

Preprocessing follows the paper (3.2), which follows DAC: downmix to mono, resample to
44.1 kHz, normalise the integrated loudness (ITU-R BS.1770) to -24 LUFS, right-pad to a
multiple of the hop (DAC's ``model.preprocess``). Two frontends share one interface:

- :class:`DACFrontend`: the *pre-quantization* continuous latent of the DAC 44.1 kHz / 8 kbps
  encoder, ``model.encoder(x)`` (not ``encode()``'s quantized ``z``): 10 s -> (862, 1024).
- :class:`LogMelFrontend`: a log-mel spectrogram with DAC's hop (512), so that both frontends
  give the same number of frames, ``T = ceil(N / 512)``, for the same preprocessed clip.

Clipping guard (our choice, as DAC's own ``compress`` does with ``ensure_max_of_audio``): when
the loudness gain would push the peak above full scale (|x| > 1), the whole clip is scaled down
so that its peak is exactly 1. The clip is then quieter than the target; the loudness actually
reached is recorded (:func:`preprocess_with_info`) and stored with every latent.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import io
import math
import os
import re
import socket
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from mvlib.core.config import FeatureConfig
from mvlib.core.errors import MvlibError
from mvlib.frontend.dac_fast import FastEncoder, resolve_precision

WEIGHTS_ENV = "MVLIB_DAC_WEIGHTS"
#: where ``dac.utils.download()`` keeps the 44.1 kHz / 8 kbps weights
DAC_CACHE_FILE = Path.home() / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"
DAC_OFFICIAL_TAG = "dac_44khz_8kbps_0.0.1"
#: log-mel frontend: FFT size (2048 at 44.1 kHz = 46 ms) and the log floor
LOGMEL_N_FFT = 2048
LOGMEL_EPS = 1e-6
#: pyloudnorm's gating block: shorter clips have no defined integrated loudness
LOUDNESS_BLOCK_S = 0.4


class BadAudioError(MvlibError, ValueError):
    """An audio file that cannot be turned into features (the reason says why)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            self.path,
            reason,
            "replace or remove the file (mvlib only reads it); with features.on_bad_audio: "
            "skip the clip is listed and left out",
        )

    def __reduce__(self):
        # rebuild from (path, reason): it crosses process boundaries in extraction workers
        return type(self), (self.path, self.reason)


class WeightsError(RuntimeError):
    """DAC weights that are missing or do not fit the 44.1 kHz / 8 kbps architecture."""


# --------------------------------------------------------------------------- audio


def load_audio(path: str | os.PathLike, data: bytes | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile and check that it holds usable audio.

    Parameters
    ----------
    path : str or PathLike
        The file (named in errors).
    data : bytes, optional
        The file's content, when the caller already read it (e.g. to hash it).

    Returns
    -------
    wave : np.ndarray[C x N] float32
        Samples in [-1, 1] for integer formats; C is 1 or 2.
    sr : int
        The file's own sample rate.

    Raises
    ------
    BadAudioError
        Unreadable / not audio, no samples, NaN or inf samples, all-zero (silent: loudness
        undefined), or more than 2 channels.
    """
    short = wav_truncation(io.BytesIO(data) if data is not None else path)
    if short is not None:
        promised, held = short
        raise BadAudioError(
            path,
            f"truncated: the WAV header promises {promised} bytes of audio but the file holds "
            f"{held} (an interrupted copy or download?); the clip is not used",
        )
    try:
        src = io.BytesIO(data) if data is not None else path
        samples, sr = sf.read(src, dtype="float32", always_2d=True)  # (N, C)
    except (RuntimeError, OSError, ValueError, TypeError, EOFError) as e:
        why = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "file", str(e))
        raise BadAudioError(path, f"unreadable, corrupt or not an audio file ({why})") from e
    n, channels = samples.shape
    if channels > 2:
        raise BadAudioError(path, f"{channels} channels; expected mono or stereo (1 or 2)")
    if n == 0:
        raise BadAudioError(path, "empty: the file holds no samples")
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise BadAudioError(path, f"{bad} NaN/inf samples")
    if not samples.any():
        raise BadAudioError(path, "silent: all samples are zero, so loudness is undefined")
    return np.ascontiguousarray(samples.T), int(sr)  # (C, N)


def wav_truncation(src) -> tuple[int, int] | None:
    """``(bytes promised, bytes held)`` when a RIFF/WAVE file's data chunk is cut short.

    libsndfile silently reads the frames that are there, so a truncated file would pass
    for a shorter clip. Only plain RIFF/WAVE headers are checked (other formats, RF64 and
    streaming headers with an unknown size, 0 or 0xFFFFFFFF, return None).
    """
    import struct

    own = not hasattr(src, "read")
    f = open(src, "rb") if own else src
    try:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(0)
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, n = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                if n in (0, 0xFFFFFFFF):
                    return None
                held = size - (pos + 8)
                return (n, held) if n > held else None
            pos += 8 + n + (n & 1)  # chunks are padded to even sizes
        return None
    except OSError:
        return None  # unreadable: sf.read reports it
    finally:
        if own:
            f.close()
        else:
            f.seek(0)


def n_frames(n_samples: int, hop: int = 512) -> int:
    """Frames a clip of ``n_samples`` gives at ``hop``: ``ceil(n_samples / hop)``."""
    assert n_samples >= 0 and hop > 0, f"bad n_samples={n_samples}, hop={hop}"
    return -(-int(n_samples) // int(hop))


#: resampler (torchaudio's "kaiser_best": 64 zero crossings, Kaiser window), the same on CPU
#: and GPU. Replaces soxr HQ (PREPROCESS_VERSION records the change in every store identity).
RESAMPLE_KW = {
    "lowpass_filter_width": 64,
    "rolloff": 0.9475937167399596,
    "resampling_method": "sinc_interp_kaiser",
    "beta": 14.769656459379492,
}
#: what preprocessing did, recorded in each frontend's identity: stores made by another
#: preprocessing (soxr + pyloudnorm before this version) refuse to mix with new features
PREPROCESS_VERSION = "mono-mean|torchaudio-kaiser-best|bs1770-torch|peak-guard|pad-right"


def resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """np.ndarray[..., N] at ``sr`` -> float32 at ``rate``: the resampler of the pipeline
    (torchaudio, ``RESAMPLE_KW``), so that all audio meets the frontend the same way."""
    import torchaudio.functional as AF

    if sr == rate:
        return np.asarray(x, dtype=np.float32)
    y = AF.resample(torch.from_numpy(np.asarray(x, dtype=np.float32)), sr, rate, **RESAMPLE_KW)
    return y.numpy()


def mono_downmix(wave: np.ndarray) -> np.ndarray:
    """np.ndarray[C x N] or [N] -> np.ndarray[N] float32: the mean of the channels."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        return wave
    assert wave.ndim == 2, f"expected wave[C x N], got shape {wave.shape}"
    return wave.mean(axis=0, dtype=np.float64).astype(np.float32)  # (N,)


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
    import torchaudio.functional as AF

    from mvlib.frontend.loudness import integrated_loudness

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
    x = _pad_to_hop(y, cfg.hop)  # (B, N'), right-padded like dac's model.preprocess
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


def _lufs_slug(lufs: float) -> str:
    return f"lufs{lufs:g}"


def _pad_to_hop(x: torch.Tensor, hop: int) -> torch.Tensor:
    n = x.shape[-1]
    return torch.nn.functional.pad(x, (0, n_frames(n, hop) * hop - n))


# --------------------------------------------------------------------------- frontends


class Frontend(abc.ABC):
    """Common interface: ``frontend(x: Tensor[B x 1 x N]) -> Tensor[B x T x D]``.

    Attributes
    ----------
    name : str
        ``"dac"`` or ``"logmel"``.
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
            x = _pad_to_hop(x.to(self.device, torch.float32), self.hop)
            z = self._features(x)
        assert z.shape == (x.shape[0], n_frames(n, self.hop), self.dim), f"bad shape {z.shape}"
        return z

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tag={self.tag!r}, device={self.device})"


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
        import torchaudio

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
            f"logmel{cfg.n_mels}-sr{cfg.sample_rate}-hop{cfg.hop}-{_lufs_slug(cfg.loudness_lufs)}"
        )

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.mel(x[:, 0])  # (B, n_mels, N / hop + 1)
        spec = spec[..., : x.shape[-1] // self.hop]  # drop the frame centred past the end
        return torch.log(spec + LOGMEL_EPS).transpose(1, 2)  # (B, T, n_mels)


#: the DAC frontend compiles Snake once this much audio (s) is encoded: a handful of clips
#: (chapter 2's random-DAC proof) runs eager rather than wait ~17 s for a compilation
COMPILE_SNAKE_AFTER_S = 60.0


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
        import dac

        assert cfg.sample_rate == 44100, f"DAC 44khz needs sample_rate 44100, got {cfg.sample_rate}"
        self.device = resolve_device(cfg.device)
        path = find_dac_weights(cfg)
        if path is not None:
            model = load_dac_weights(path)
            weights = _weights_tag(path)
            slug = "0.0.1" if weights == DAC_OFFICIAL_TAG else None
        else:
            model = random_dac(cfg.dac_seed)
            weights = f"random-init-seed-{cfg.dac_seed}"
            slug = f"random-init-seed{cfg.dac_seed}"
        assert isinstance(model, dac.DAC)
        self.hop = int(model.hop_length)
        self.sample_rate = int(model.sample_rate)
        self.dim = int(model.latent_dim)
        assert self.hop == cfg.hop, f"DAC hop is {self.hop}, config says hop={cfg.hop}"
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
        self.tag = f"dac-44khz-8kbps-{slug}-sr{self.sample_rate}-{_lufs_slug(cfg.loudness_lufs)}"
        if self.precision != "fp32":  # fp32 keeps the tag of earlier stores' folders
            self.tag += f"-{self.precision}"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).transpose(1, 2)  # (B, 1024, T) -> (B, T, 1024)


def _weights_tag(path: Path) -> str:
    if path.name in (DAC_CACHE_FILE.name, "weights.pth"):
        return DAC_OFFICIAL_TAG  # dac's cache name / the 0.0.1 release asset's name
    return "file-" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)


def _weights_help(random_hint: bool = True) -> str:
    return (
        "Get the DAC 44.1 kHz 8 kbps weights (weights.pth of "
        "https://github.com/descriptinc/descript-audio-codec/releases/tag/0.0.1, or "
        "`python -m dac download` on a machine with internet) and either put the file at "
        f"{DAC_CACHE_FILE}, set ${WEIGHTS_ENV}=<file>, or set features.dac_weights"
        + (
            "; or set features.allow_random_dac=true for random-init features (not the paper's)."
            if random_hint
            else "."
        )
    )


def find_dac_weights(cfg: FeatureConfig) -> Path | None:
    """The weights file to use, or None when only a random init is left (see DACFrontend)."""
    for where, value in (
        ("features.dac_weights", cfg.dac_weights),
        (WEIGHTS_ENV, os.environ.get(WEIGHTS_ENV)),
    ):
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise WeightsError(f"{where}={value!r}: no such file. {_weights_help()}")
            return p
    if DAC_CACHE_FILE.is_file():
        return DAC_CACHE_FILE
    downloaded = _try_download()
    if downloaded is not None:
        return downloaded
    if cfg.allow_random_dac:
        return None
    raise WeightsError(
        f"no DAC weights found and features.allow_random_dac=false. {_weights_help()}"
    )


def real_dac_weights_available(cfg: FeatureConfig) -> bool:
    """Whether pretrained DAC weights are on disk (path, $MVLIB_DAC_WEIGHTS or dac's cache).

    Never touches the network: this decides the ``frontend: auto`` profile quickly.
    """
    return bool(cfg.dac_weights or os.environ.get(WEIGHTS_ENV) or DAC_CACHE_FILE.is_file())


def _try_download(host: str = "github.com", timeout: float = 3.0) -> Path | None:
    # dac's download() calls requests.get without a timeout: probe the network first
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return None
    try:
        import dac

        return Path(dac.utils.download(model_type="44khz", model_bitrate="8kbps", tag="0.0.1"))
    except Exception as e:  # noqa: BLE001 - any failure of the download: fall back
        warnings.warn(f"DAC weights download failed: {e}", stacklevel=3)
        return None


def random_dac(seed: int):
    """``dac.DAC()`` with seeded random weights (global RNG state left untouched)."""
    import dac

    warnings.warn(
        f"No DAC weights found: using a RANDOMLY INITIALISED DAC encoder (seed {seed}). "
        "Its latents are NOT the paper's pretrained DAC features. " + _weights_help(False),
        stacklevel=3,
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # dac's weight_norm / jit deprecations
        torch.manual_seed(seed)
        return dac.DAC()


def load_dac_weights(path: str | os.PathLike):
    """Load a DAC 44.1 kHz / 8 kbps weights file, checking every key and shape.

    The file is dac's (audiotools') plain format ``{"state_dict": ..., "metadata": ...}``
    as written by ``model.save(path, package=False)``.

    Raises
    ------
    WeightsError
        Not loadable, not that format, or missing / unexpected keys or wrong shapes.
    """
    import dac

    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise WeightsError(f"{path}: cannot be read as a torch weights file ({e})") from e
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
        keys = sorted(blob)[:5] if isinstance(blob, dict) else type(blob).__name__
        raise WeightsError(
            f'{path}: expected dac\'s format {{"state_dict": ..., "metadata": ...}}, got {keys}'
        )
    state = blob["state_dict"]
    check_state_dict(state, _dac_shapes(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dac's deprecation warnings (weight_norm, jit)
        model = dac.DAC()
    model.load_state_dict(state, strict=True)
    model.metadata = blob.get("metadata", {})
    return model


@functools.lru_cache(maxsize=1)
def _dac_shapes() -> dict[str, torch.Tensor]:
    """State dict of ``dac.DAC()`` on the meta device: names and shapes, no memory."""
    import dac

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return dac.DAC().state_dict()


def check_state_dict(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: str | os.PathLike
) -> None:
    """Raise WeightsError naming missing/unexpected keys and shape mismatches."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(missing)} missing key(s) {missing[:5]}" if missing else "",
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}" if unexpected else "",
            f"{len(shapes)} wrong shape(s) {shapes[:5]}" if shapes else "",
        ]
        raise WeightsError(
            f"{path}: not DAC 44.1 kHz 8 kbps weights: " + "; ".join(p for p in parts if p)
        )


def make_frontend(cfg: FeatureConfig) -> Frontend:
    """The frontend named by ``cfg.frontend`` ("dac" | "logmel")."""
    if cfg.frontend == "dac":
        return DACFrontend(cfg)
    if cfg.frontend == "logmel":
        return LogMelFrontend(cfg)
    raise ValueError(f"features.frontend={cfg.frontend!r}: expected 'dac' or 'logmel'")
