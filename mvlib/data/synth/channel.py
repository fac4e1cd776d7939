"""A sensor's channel: street background, room response, microphone, hum; and a whole clip.

(Its recording device, the nonlinear and noisy part a world may add: :mod:`.device`.)

:func:`synthesize_clip` places a clip's sources (:mod:`.sources`) in the sensor's
background, through its room impulse response and microphone response, adds mains hum and
the clip's gain. Sensors differ in *spectral shape*, not level, so they survive loudness
normalisation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import signal

from mvlib.core.synth_config import SynthConfig
from mvlib.data.synth.device import record, self_noise
from mvlib.data.synth.dsp import _harmonics, _phase, _smooth, _sos_filter
from mvlib.data.synth.filters import butter_sos
from mvlib.data.synth.plan import N_EQ_BANDS, N_REFLECTIONS, SourceEvent
from mvlib.data.synth.sources import render_source

_LN10_20 = math.log(10.0) / 20.0  #: 10 ** (x / 20) == exp(x * _LN10_20)


@lru_cache(maxsize=4)
def _bin_octaves(n: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """rfft bin frequencies of ``n`` samples, and their octaves re. 1 kHz (floor 20 Hz).

    Read-only arrays (cached)."""
    f = np.fft.rfftfreq(n, 1.0 / sr)
    octaves = np.log2(np.maximum(f, 20.0) / 1000.0)
    f.setflags(write=False)
    octaves.setflags(write=False)
    return f, octaves


def background(p: dict, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary street background at RMS 1: tilted coloured noise plus traffic rumble.

    The rumble is low-passed noise with a slow amplitude modulation (passing traffic);
    ``noise_tilt_db_oct`` and ``rumble_db`` set the sensor-specific spectral shape.
    """
    f, octaves = _bin_octaves(n, sr)
    tilt = np.exp(octaves * (p["noise_tilt_db_oct"] * _LN10_20))  # 10 ** (dB / 20), cheaper
    broad = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * tilt, n)
    lp = 1.0 / (1.0 + (f / p["rumble_hz"]) ** 2)
    rumble = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * lp, n)
    rumble *= 1.0 + 0.5 * _smooth(n, 0.3, sr, rng)
    x = broad / (np.std(broad) + 1e-12) + 10.0 ** (p["rumble_db"] / 20.0) * rumble / (
        np.std(rumble) + 1e-12
    )
    return x / (np.std(x) + 1e-12)


def room_ir(p: dict, sr: int, rng: np.random.Generator, far: bool = False) -> np.ndarray:
    """Street/room impulse response: direct path, early reflections, decaying noise tail.

    The tail's amplitude falls 60 dB in ``rt60_s``; its energy sits ``drr_db``
    below the direct path (6 dB more reverberant for far sources).
    """
    rt60 = float(p["rt60_s"])
    n = max(int(min(1.2 * rt60, 1.5) * sr), 8)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail = _sos_filter(tail, "lowpass", 5000.0, sr, order=1)  # air absorbs highs
    drr = p["drr_db"] - (6.0 if far else 0.0)
    tail *= 10.0 ** (-drr / 20.0) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    h = tail
    h[0] += 1.0
    for j in range(N_REFLECTIONS):
        i = int(p[f"er{j}_ms"] * 1e-3 * sr)
        if 0 < i < n:
            h[i] += p[f"er{j}_gain"]
    return h


def mic_sos(p: dict, sr: int) -> np.ndarray:
    """Second-order sections of the microphone response: Array[S x 6].

    Butterworth low-cut (2nd order) and high-frequency roll-off, RBJ peaking
    bands ``eq{k}_*`` and an RBJ high shelf at 5 kHz.
    """
    nyq = 0.5 * sr
    secs = [butter_sos(2, min(p["lowcut_hz"], 0.4 * nyq), "highpass", sr)]
    if p["hicut_hz"] < 0.9 * nyq:
        secs.append(butter_sos(2, p["hicut_hz"], "lowpass", sr))
    for k in range(N_EQ_BANDS):
        f = min(p[f"eq{k}_hz"], 0.45 * sr)
        secs.append(_biquad("peak", f, p[f"eq{k}_gain_db"], p[f"eq{k}_q"], sr))
    secs.append(_biquad("highshelf", min(5000.0, 0.4 * sr), p["shelf_gain_db"], 0.707, sr))
    return np.concatenate(secs, axis=0)


def _biquad(kind: str, f: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook biquad as one SOS row: Array[1 x 6]."""
    a_ = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f / sr
    cw, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    else:  # high shelf
        s = 2.0 * np.sqrt(a_) * alpha
        b = [
            a_ * ((a_ + 1) + (a_ - 1) * cw + s),
            -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
            a_ * ((a_ + 1) + (a_ - 1) * cw - s),
        ]
        a = [
            (a_ + 1) - (a_ - 1) * cw + s,
            2 * ((a_ - 1) - (a_ + 1) * cw),
            (a_ + 1) - (a_ - 1) * cw - s,
        ]
    return np.array([[b[0] / a[0], b[1] / a[0], b[2] / a[0], 1.0, a[1] / a[0], a[2] / a[0]]])


def hum(p: dict, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: harmonics of 50/60 Hz decaying by ``hum_decay``, RMS ``10**(hum_db/20)``."""
    k = np.arange(1, 8)
    k = k[k * p["hum_hz"] < 0.45 * sr]
    f, amps = p["hum_hz"], p["hum_decay"] ** (k - 1)
    period = _tone_period(f, sr)
    if period < n:  # the tone repeats exactly: render one period (same phase draw), tile it
        x = np.resize(_harmonics(_phase(np.full(period, f), sr, rng), amps), n)
    else:
        x = _harmonics(_phase(np.full(n, f), sr, rng), amps)
    return x / (np.std(x) + 1e-12) * 10.0 ** (p["hum_db"] / 20.0)


def _tone_period(f: float, sr: int) -> int | float:
    """Samples after which a tone of ``f`` Hz repeats exactly: ``sr / gcd(sr, f)`` for whole
    numbers (50 Hz at 22.05 kHz: 441), else infinity."""
    if float(f).is_integer() and float(sr).is_integer() and f > 0:
        return int(sr) // math.gcd(int(sr), int(f))
    return math.inf


def _convolve_head(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``fftconvolve(x, h)[:len(x)]``, transforming only x's non-zero span and the part of
    ``h`` that reaches the clip's end (the same sum, shorter FFTs)."""
    n = len(x)
    out = np.zeros(n)
    nz = x != 0
    if not nz.any():
        return out
    a0, a1 = int(nz.argmax()), n - int(nz[::-1].argmax())  # first, last non-zero + 1
    seg = signal.fftconvolve(x[a0:a1], h[: n - a0])[: n - a0]
    out[a0 : a0 + len(seg)] = seg
    return out


def synthesize_clip(
    cfg: SynthConfig, params: dict, sources: list[SourceEvent], rng: np.random.Generator
) -> np.ndarray:
    """Render one clip through a sensor's channel.

    Parameters
    ----------
    cfg : SynthConfig
        Duration, sample rate and background level.
    params : dict
        The clip's effective channel (:func:`apply_drift` of :func:`sensor_params`).
    sources : list of SourceEvent
        What sounds, when, how loud.
    rng : numpy.random.Generator
        The clip's audio stream.

    Returns
    -------
    Array[N]
        float64 mono audio, N = duration_s * sample_rate, peak below 1.
    """
    sr = int(cfg.sample_rate)
    n = int(round(cfg.duration_s * sr))
    bg_rms = 10.0 ** ((cfg.background_db + params["background_offset_db"]) / 20.0)
    bg = background(params, n, sr, rng) * bg_rms
    groups = {"near": np.zeros(n), "far": np.zeros(n)}
    for ev in sources:
        a = int(round(ev.onset_s * sr))
        m = min(int(round(ev.dur_s * sr)), n - a)
        x = render_source(ev.coarse, ev.fine, m, sr, rng)
        groups[ev.proximity][a : a + m] += x * bg_rms * 10.0 ** (ev.snr_db / 20.0)
    wet = bg
    for prox, dry in groups.items():
        if dry.any():
            wet = wet + _convolve_head(dry, room_ir(params, sr, rng, far=prox == "far"))
    mains = hum(params, n, sr, rng) * bg_rms
    if "self_noise_db" in params:  # the world's device (mvlib.data.synth.device)
        wet = wet + self_noise(params, n, sr, rng) * bg_rms
    y = signal.sosfilt(mic_sos(params, sr), wet) + mains
    y = record(y, params, sr, rng)  # unchanged without a device
    y *= 10.0 ** (params.get("gain_db", 0.0) / 20.0)
    peak = np.max(np.abs(y))
    return y * (0.89 / peak) if peak > 0.89 else y  # headroom: never clip the 16-bit file
