"""Signal building blocks of the synthesiser: curves, phases, harmonics, pulses, filters.

Each is a small numpy routine shared by the source generators (:mod:`.sources`) and the
channel (:mod:`.channel`); several are fast forms of a plain expression (the docstring says
which) that the tests pin to it. Their names start with ``_``: they belong to the synth
package, not to mvlib's API.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from mvlib.data.synth.filters import butter_sos


def _smooth(n: int, rate_hz: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Slowly varying random curve in [-1, 1]: Array[n], ~``rate_hz`` changes per second."""
    n_ctrl = max(2, int(np.ceil(n / sr * rate_hz)) + 2)
    ctrl = rng.uniform(-1.0, 1.0, n_ctrl)
    i, i1, w, w1 = _smooth_weights(n, n_ctrl)
    return ctrl[i] * w1 + ctrl[i1] * w


@lru_cache(maxsize=4)
def _smooth_weights(n: int, n_ctrl: int) -> tuple[np.ndarray, ...]:
    """:func:`_smooth`'s control indices and weights (depend on the sizes only; read-only).

    Four entries of 32 bytes a sample (7 MB for 2.5 s at 22.05 kHz): the clip-length ones
    (background) are reused every clip, those of random event lengths age out.
    """
    x = np.linspace(0.0, n_ctrl - 1.0, n)
    i = np.minimum(x.astype(int), n_ctrl - 2)
    w = x - i
    w = w * w * (3.0 - 2.0 * w)  # smoothstep: no kinks at control points
    out = (i, i + 1, w, 1.0 - w)
    for a in out:
        a.setflags(write=False)
    return out


def _phase(f_inst: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Running phase (radians) of an instantaneous frequency track."""
    return 2.0 * np.pi * np.cumsum(f_inst) / sr + rng.uniform(0, 2 * np.pi)


def _harmonics(phase: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Sum of harmonics ``amps[k] * sin((k+1) * phase)`` (amps may be Array[K] or Array[K x N]).

    One ``sin`` and one ``cos`` of the phase, then the Chebyshev recurrence
    ``sin((k+2)x) = 2 cos(x) sin((k+1)x) - sin(kx)`` (exact in real arithmetic; in floats it
    differs from ``np.sin((k+1) * phase)`` by rounding, ~1e-12 for the harmonic counts used).
    Worked in blocks of :data:`_BLOCK` samples so that the temporaries stay in cache.
    """
    phase = np.asarray(phase, dtype=float)
    out = np.zeros_like(phase)
    n_h = len(amps)
    if n_h == 0:
        return out
    per_sample = np.ndim(amps) == 2
    for a in range(0, len(phase), _BLOCK):
        x = phase[a : a + _BLOCK]
        acc = out[a : a + _BLOCK]
        s_prev = np.zeros_like(x)  # sin(0 x)
        s = np.sin(x)  # sin(1 x)
        c2 = 2.0 * np.cos(x)
        tmp = np.empty_like(x)
        for k in range(n_h):
            np.multiply(amps[k][a : a + _BLOCK] if per_sample else amps[k], s, out=tmp)
            acc += tmp  # + amps[k] sin((k+1) x)
            if k + 1 < n_h:
                np.multiply(c2, s, out=tmp)
                tmp -= s_prev  # sin((k+2) x)
                s_prev, s, tmp = s, tmp, s_prev
    return out


_BLOCK = 8192  #: samples per block in :func:`_harmonics` (a few 64 KiB temporaries)


def _pulses(phase: np.ndarray) -> np.ndarray:
    """Unit impulse at each period of a phase track (glottal / bark excitation)."""
    cyc = np.floor(phase / (2 * np.pi))
    return np.concatenate([[0.0], (np.diff(cyc) > 0).astype(float)])


def _pulse_index(phase: np.ndarray) -> np.ndarray:
    """Sample indices of the unit impulses of :func:`_pulses` (``_pulses(phase)[i] == 1``)."""
    cyc = np.floor(phase / (2 * np.pi))
    return np.flatnonzero(np.diff(cyc) > 0) + 1


def _sos_filter(x: np.ndarray, kind: str, freq, sr: int, order: int = 2) -> np.ndarray:
    hi = 0.95 * (0.5 * sr)
    if np.ndim(freq) == 0:
        f = min(max(float(freq), 10.0), hi)
    else:
        f = tuple(min(max(float(v), 10.0), hi) for v in freq)
        f = f if len(f) > 1 else f[0]
    return signal.sosfilt(butter_sos(order, f, kind, sr), x)


def _resonators(x: np.ndarray, freqs, bws, gains, sr: int) -> np.ndarray:
    """Parallel 2-pole resonators (formants): sum of bandpassed copies of ``x``."""
    out = np.zeros_like(x)
    nz = x != 0
    if not nz.any():
        return out
    a = int(nz.argmax())  # a filter at rest gives exact zeros until its input starts: skip them
    for f, bw, g in zip(freqs, bws, gains):
        if f + bw / 2 >= 0.48 * sr:
            continue
        band = (max(f - bw / 2, 20.0), f + bw / 2)
        out[a:] += g * _sos_filter(x[a:], "bandpass", band, sr, order=1)
    return out


def _impulse_train(times_s: np.ndarray, amps: np.ndarray, n: int, sr: int) -> np.ndarray:
    x = np.zeros(n)
    idx = np.round(np.asarray(times_s) * sr).astype(int)
    ok = (idx >= 0) & (idx < n)
    np.add.at(x, idx[ok], np.asarray(amps, dtype=float)[ok])
    return x


def _place(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an impulse train with an event kernel, keeping the length.

    ``fftconvolve(x, kernel)[:len(x)]``; for a sparse train (the usual case) the same sum is
    formed directly, one scaled kernel copy per impulse (no FFT rounding noise, far fewer
    operations), in index order.
    """
    n, m = len(x), len(kernel)
    hits = np.flatnonzero(x)
    if len(hits) * (2 * m + 2000) > 45 * (n + m):  # dense: the FFT is cheaper
        return signal.fftconvolve(x, kernel)[:n]
    out = np.zeros(n)
    for i in hits:
        k = min(m, n - i)
        out[i : i + k] += x[i] * kernel[:k]
    return out


def _decay(sr: int, tau_s: float, length_s: float) -> np.ndarray:
    t = np.arange(int(length_s * sr)) / sr
    return np.exp(-t / tau_s)


def _envelope(n: int, sr: int, fade_s: float = 0.02) -> np.ndarray:
    """Flat envelope with raised-cosine fades (no clicks at event edges)."""
    m = max(1, min(int(fade_s * sr), n // 2))
    env = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    env[:m] = ramp
    env[n - m :] = ramp[::-1]
    return env


def _fade(x: np.ndarray, sr: int, fade_s: float = 0.02) -> np.ndarray:
    """``x * _envelope(len(x), sr, fade_s)`` in place: only the fades are multiplied (the
    flat middle would be ``x * 1.0 == x``), bit for bit the same values."""
    n = len(x)
    if n == 0:
        return x
    m = max(1, min(int(fade_s * sr), n // 2))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    x[:m] *= ramp
    x[n - m :] *= ramp[::-1]
    return x
