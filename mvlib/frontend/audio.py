"""Reading audio files: decoding with soundfile, refusing unusable audio, mono downmix.

:func:`load_audio` reads a clip once and refuses what cannot be turned into features (a
truncated WAV, an unreadable or empty file, NaN samples, silence, more than two channels)
with a :class:`BadAudioError` naming the file; :func:`mono_downmix` averages the channels.
"""

from __future__ import annotations

import io
import os
import re
import struct

import numpy as np
import soundfile as sf

from mvlib.core.errors import MvlibError

__all__ = ["BadAudioError", "load_audio", "mono_downmix", "wav_truncation"]


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


def mono_downmix(wave: np.ndarray) -> np.ndarray:
    """np.ndarray[C x N] or [N] -> np.ndarray[N] float32: the mean of the channels."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        return wave
    assert wave.ndim == 2, f"expected wave[C x N], got shape {wave.shape}"
    return wave.mean(axis=0, dtype=np.float64).astype(np.float32)  # (N,)
