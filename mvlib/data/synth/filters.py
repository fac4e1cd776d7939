"""Closed-form Butterworth designs: what ``scipy.signal.butter(..., fs=sr, output="sos")`` computes.

The synthesiser designs hundreds of small filters per second of audio;
scipy's general path (``buttap`` -> ``lp2*_zpk`` -> ``bilinear_zpk`` -> ``zpk2sos``) costs
about a millisecond per design, far more than filtering a short clip. For the orders the
synthesiser uses (Butterworth order 1 and 2, lowpass / highpass / bandpass) the bilinear
transform with prewarping has a closed form, evaluated here on Python scalars:

- prewarp: ``W = tan(pi * f / sr)`` (the analog edge, in units where the bilinear map is
  ``s = (z - 1) / (z + 1)``);
- lowpass / highpass of order 1 or 2: the textbook biquad of ``W``;
- bandpass: the analog prototype's poles moved by the low-pass to band-pass map
  (``p_bp = p bw/2 +- sqrt((p bw/2)^2 - wo^2)``, ``bw = W2 - W1``, ``wo^2 = W1 W2``), then
  ``z = (1 + s) / (1 - s)``.

Sections, their order and where the gain sits follow scipy's ``zpk2sos`` (``pairing=
"nearest"``): for order 2 bandpass the section whose poles lie closest to the unit circle
comes last and gets the double zero (at z = +1 or -1) nearest to its pole; the first
section carries the overall gain. ``tests/data/synth/test_filters.py`` checks every case against
scipy within 1e-9. Other orders and kinds fall back to scipy itself.

:func:`butter_sos` memoises designs (the synthesiser reuses many fixed corners: formants,
hiss and hat high-passes, the air-absorption low-pass) and returns a fresh copy each call
(``scipy.signal.sosfilt`` wants a writeable array).
"""

from __future__ import annotations

import cmath
import math
from functools import lru_cache

import numpy as np
from scipy import signal

KINDS = ("lowpass", "highpass", "bandpass")
_SQRT2 = math.sqrt(2.0)


def butter_sos(order: int, freq, kind: str, sr: float) -> np.ndarray:
    """Digital Butterworth filter as second-order sections: Array[S x 6].

    Same arguments and result as ``scipy.signal.butter(order, freq, kind, fs=sr,
    output="sos")`` (to float rounding); orders 1 and 2 of :data:`KINDS` are designed in
    closed form, anything else by scipy.

    Parameters
    ----------
    order : int
        Filter order (bandpass: of the prototype, so 2 * order poles).
    freq : float or (float, float)
        Corner frequency in Hz; a pair (low, high) for ``"bandpass"``.
    kind : str
        ``"lowpass"``, ``"highpass"`` or ``"bandpass"`` (scipy's other spellings fall back).
    sr : float
        Sample rate, Hz; corners must lie in (0, sr / 2).
    """
    if kind == "bandpass":
        lo, hi = (float(v) for v in freq)
        key: tuple = (lo, hi)
    else:
        key = (float(freq),)
    return _design(int(order), key, kind, float(sr)).copy()  # a copy: callers may write


@lru_cache(maxsize=4096)
def _design(order: int, freq: tuple, kind: str, sr: float) -> np.ndarray:
    ok = all(0.0 < f < 0.5 * sr for f in freq) and (kind != "bandpass" or freq[0] < freq[1])
    if order in (1, 2) and kind in KINDS and ok:  # else scipy designs it (or says what is wrong)
        if kind == "bandpass":
            rows = _bandpass(order, freq[0], freq[1], sr)
        else:
            rows = _low_high(order, freq[0], kind == "highpass", sr)
        sos = np.array(rows, dtype=float)
    else:
        wn = freq[0] if len(freq) == 1 else list(freq)
        sos = signal.butter(order, wn, btype=kind, fs=sr, output="sos")
    sos.setflags(write=False)
    return sos


def scipy_sos(order: int, freq, kind: str, sr: float) -> np.ndarray:
    """The reference: ``scipy.signal.butter`` (uncached), for tests and benchmarks."""
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def _low_high(order: int, f: float, high: bool, sr: float) -> list[list[float]]:
    """Order 1 or 2 low/high-pass: one section (order 1: ``[b0, b1, 0, 1, a1, 0]``)."""
    w = math.tan(math.pi * f / sr)  # prewarped corner
    if order == 1:
        d = 1.0 + w
        g = (1.0 if high else w) / d
        return [[g, -g if high else g, 0.0, 1.0, (w - 1.0) / d, 0.0]]
    w2 = w * w
    d = 1.0 + _SQRT2 * w + w2
    g = (1.0 if high else w2) / d
    a1 = 2.0 * (w2 - 1.0) / d
    a2 = (1.0 - _SQRT2 * w + w2) / d
    return [[g, -2.0 * g if high else 2.0 * g, g, 1.0, a1, a2]]


def _bandpass(order: int, f1: float, f2: float, sr: float) -> list[list[float]]:
    """Order 1 (one section) or 2 (two sections, scipy's pairing) band-pass."""
    w1 = math.tan(math.pi * f1 / sr)
    w2 = math.tan(math.pi * f2 / sr)
    bw, wo2 = w2 - w1, w1 * w2
    if order == 1:
        # H(s) = bw s / (s^2 + bw s + wo^2), s = (z - 1) / (z + 1)
        d = 1.0 + bw + wo2
        g = bw / d
        return [[g, 0.0, -g, 1.0, 2.0 * (wo2 - 1.0) / d, (1.0 - bw + wo2) / d]]
    # prototype pole pair -1/sqrt2 +- j/sqrt2, scaled by bw/2; each maps to two band poles
    pl = complex(-1.0, 1.0) / _SQRT2 * (0.5 * bw)
    root = cmath.sqrt(pl * pl - wo2)
    zpoles = [(1.0 + s) / (1.0 - s) for s in (pl + root, pl - root)]
    # both are in the upper half plane; the section whose pole is nearest the unit circle
    # ("worst") goes last with the double zero nearest to it, the other gets the opposite one
    zpoles.sort(key=lambda p: abs(1.0 - abs(p)))  # worst first (stable, like argmin)
    worst, other = zpoles
    z_worst = 1.0 if abs(worst - 1.0) <= abs(worst + 1.0) else -1.0
    # overall gain: k = bw^2 * prod(1 - zeros_s) / prod(1 - poles_s) with zeros_s = (0, 0)
    poles_s = [pl + root, pl - root]
    den = 1.0
    for s in poles_s:
        den *= abs(1.0 - s) ** 2  # with the conjugate pole
    k = bw * bw / den

    def row(p: complex, z: float, gain: float) -> list[float]:
        return [gain, -2.0 * z * gain, gain, 1.0, -2.0 * p.real, abs(p) ** 2]

    return [row(other, -z_worst, k), row(worst, z_worst, 1.0)]
