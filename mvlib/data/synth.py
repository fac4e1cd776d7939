"""A synthetic urban sensor network, written in the SONYC-UST-V2 format.

Each sensor is a microphone on a street: its *channel* is a smooth microphone
frequency response (low-cut corner, peaking bands, high shelf, high-frequency
roll-off), a room/street impulse response (early reflections and an
exponentially decaying tail of sensor-specific RT60), a stationary coloured
background (spectral tilt, traffic rumble) and, on some sensors, mains hum.
These differ in *spectral shape*, not level, so they survive loudness
normalisation; ``channel_spread`` scales how far sensors differ (0: identical)
and ``channel_drift`` how much each clip's channel wanders (weather, traffic).

Each clip holds 0..``max_sources`` sound sources of the 8 SONYC coarse classes,
drawn from the sensor's own Dirichlet prior, each rendered by a class-specific
generator (harmonic engines, impact trains, saw whine, sirens, melodies, formant
voices, barks), placed at a random time with a random SNR re. the background.

Output folder::

    <out>/annotations.csv   SONYC-UST-V2 columns (taxonomy.annotation_columns())
    <out>/audio/<sensor>_<clip>.wav   16-bit PCM mono at cfg.sample_rate
    <out>/truth.json        ground truth: sensors' channels, clips' sources and drift
    <out>/synth.json        mvlib's generation marker: the SynthConfig, mvlib version,
                            completion, and a manifest (annotations hash, audio sizes)

mvlib writes only into a new or empty folder or its own marked set of the same settings;
a finished set that was changed since is the user's (see :func:`folder_state`).

Randomness: every clip draws from its own generator seeded by
``(seed, stream, sensor, clip)``, so a clip does not depend on the order of
generation and a resumed run writes bitwise the same files.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from mvlib import __version__
from mvlib.core.cache import atomic_write_bytes, atomic_write_json, atomic_write_text, cache_dir
from mvlib.core.config import SynthConfig, config_hash, to_dict
from mvlib.core.errors import MvlibError
from mvlib.data import taxonomy
from mvlib.data.filters import butter_sos

SYNTH_VERSION = "v1"
MARKER = "synth.json"  #: mvlib's generation marker: settings, completion, manifest of files
N_EQ_BANDS = 4
N_REFLECTIONS = 3
PROXIMITIES = ("near", "far", "notsure")
P_SILENT = 0.08  #: share of clips without any source
#: random-stream ids: keep sensor, plan, audio and annotation draws independent
_SENSOR, _PLAN, _AUDIO, _ANNOT, _SPLIT = 0, 1, 2, 3, 4
#: relative base rates of the 8 coarse classes (engine and voice common, as in SONYC)
BASE_RATES = np.array([0.22, 0.09, 0.12, 0.08, 0.14, 0.10, 0.16, 0.09])
#: minimum event duration per coarse class, seconds (barks and knocks can be short)
MIN_DUR_S = np.array([1.5, 1.0, 1.0, 1.2, 1.0, 1.5, 1.2, 0.6])
_BOROUGH_LATLON = {
    1: (40.78, -73.97),
    2: (40.84, -73.88),
    3: (40.65, -73.95),
    4: (40.73, -73.79),
    5: (40.58, -74.15),
}


@dataclass(frozen=True)
class SourceEvent:
    """One sound source in one clip.

    Attributes
    ----------
    coarse : int
        Coarse class 1..8 (taxonomy order).
    fine : str
        Fine class code within ``coarse`` (never ``"X"``: the synthesiser knows it).
    onset_s, dur_s : float
        Placement in the clip, seconds.
    snr_db : float
        Source RMS over its duration re. the background RMS, dB.
    proximity : str
        ``"near"`` or ``"far"`` (far sources are more reverberant).
    """

    coarse: int
    fine: str
    onset_s: float
    dur_s: float
    snr_db: float
    proximity: str


# --------------------------------------------------------------------------- names, seeds


def dataset_name(cfg: SynthConfig) -> str:
    """Folder name of the synthetic set: ``synth-v1-<config_hash(cfg)>``."""
    return f"synth-{SYNTH_VERSION}-{config_hash(cfg)}"


def audio_filename(sensor: int, clip: int) -> str:
    """SONYC-style file name, e.g. ``07_000123.wav``."""
    return f"{sensor:02d}_{clip:06d}.wav"


def _rng(cfg: SynthConfig, stream: int, *ids: int) -> np.random.Generator:
    return np.random.default_rng([int(cfg.seed), stream, *ids])


@lru_cache(maxsize=16)
def fine_codes(coarse: int) -> tuple[str, ...]:
    """Fine class codes of a coarse class, without the uncertain ``X``."""
    return tuple(f for f in taxonomy.load_taxonomy()["fine"][coarse] if f != "X")


# --------------------------------------------------------------------------- sensors


def sensor_params(cfg: SynthConfig, sensor: int) -> dict[str, float]:
    """Draw one sensor's channel and source prior (flat dict of scalars).

    With ``channel_spread == 0`` every sensor gets the same channel (the base
    values); the source prior and location still differ.
    """
    rng = _rng(cfg, _SENSOR, sensor)
    s = float(cfg.channel_spread)
    p: dict[str, float] = {}
    base_freqs = (200.0, 700.0, 2200.0, 5000.0)
    for k in range(N_EQ_BANDS):
        p[f"eq{k}_hz"] = base_freqs[k] * 2.0 ** (s * rng.uniform(-0.7, 0.7))
        p[f"eq{k}_gain_db"] = s * rng.normal(0.0, 4.0)
        p[f"eq{k}_q"] = 1.0 * 2.0 ** (s * rng.uniform(-1.0, 1.0))
    p["lowcut_hz"] = float(np.clip(80.0 * 2.0 ** (s * rng.normal(0.0, 1.0)), 20.0, 500.0))
    p["hicut_hz"] = float(np.clip(8000.0 * 2.0 ** (s * rng.normal(0.0, 0.4)), 3000.0, 10000.0))
    p["shelf_gain_db"] = s * rng.normal(0.0, 3.0)
    p["rt60_s"] = float(np.clip(0.4 * np.exp(s * rng.normal(0.0, 0.5)), 0.08, 1.5))
    p["drr_db"] = 4.0 + s * rng.normal(0.0, 4.0)
    for j, base in enumerate((3.0, 8.0, 17.0)):
        p[f"er{j}_ms"] = base * np.exp(s * rng.normal(0.0, 0.4))
        p[f"er{j}_gain"] = float(np.clip(0.4 + s * rng.uniform(-0.3, 0.3), 0.0, 0.95))
    p["noise_tilt_db_oct"] = -4.0 + s * rng.normal(0.0, 1.5)
    p["rumble_hz"] = 70.0 * 2.0 ** (s * rng.normal(0.0, 0.5))
    p["rumble_db"] = -3.0 + s * rng.normal(0.0, 4.0)
    p["background_offset_db"] = s * rng.normal(0.0, 3.0)
    hum = rng.uniform() < 0.35 * min(s, 1.0)
    p["hum_hz"] = float(rng.choice([50.0, 60.0]))
    p["hum_db"] = float(-12.0 + 4.0 * rng.normal()) if hum else -120.0  # re. background RMS
    p["hum_decay"] = float(rng.uniform(0.3, 0.8))  # amplitude ratio between harmonics
    prior = rng.dirichlet(cfg.prior_concentration * len(BASE_RATES) * BASE_RATES)
    for c, col in enumerate(taxonomy.coarse_label_columns()):
        p[f"prior_{col}"] = float(prior[c])
    return {k: float(v) for k, v in p.items()}


@lru_cache(maxsize=1)
def _coarse_label_columns() -> tuple[str, ...]:
    return taxonomy.coarse_label_columns()


def sensor_meta(cfg: SynthConfig, sensor: int) -> dict:
    """Location metadata of a sensor (borough 1..5, block, latitude, longitude)."""
    rng = _rng(cfg, _SENSOR, sensor, 1)
    borough = int(rng.integers(1, 6))
    lat, lon = _BOROUGH_LATLON[borough]
    return {
        "borough": borough,
        "block": int(rng.integers(1, 8000)),
        "latitude": round(lat + rng.normal(0, 0.02), 4),
        "longitude": round(lon + rng.normal(0, 0.02), 4),
    }


def sensor_splits(cfg: SynthConfig) -> dict[int, str]:
    """Assign whole sensors to SONYC's train/validate/test (sensor-disjoint)."""
    n = cfg.n_sensors
    fr = np.asarray(cfg.split_fractions, dtype=float)
    assert fr.shape == (3,) and np.all(fr >= 0) and fr.sum() > 0, f"bad split_fractions {fr}"
    fr = fr / fr.sum()
    n_val, n_test = (int(round(f * n)) for f in fr[1:])
    # keep every split non-empty when there are enough sensors and it was asked for
    n_val = max(n_val, 1) if (fr[1] > 0 and n >= 3) else n_val
    n_test = max(n_test, 1) if (fr[2] > 0 and n >= 3) else n_test
    n_train = n - n_val - n_test
    assert n_train >= 0, f"split_fractions {cfg.split_fractions} leave no train sensors of {n}"
    order = _rng(cfg, _SPLIT).permutation(n)
    names = ["train"] * n_train + ["validate"] * n_val + ["test"] * n_test
    return {int(s): names[i] for i, s in enumerate(order)}


# --------------------------------------------------------------------------- clip plans

DRIFT_KEYS = ("drift_gain_db", *(f"drift_eq{k}_db" for k in range(N_EQ_BANDS)),
              "drift_tilt_db_oct", "drift_rt60_factor", "drift_background_db", "drift_rumble_db")  # fmt: skip


def clip_plan(cfg: SynthConfig, sensor: int, clip: int, params: dict) -> dict:
    """Draw one clip's sources, channel drift and time metadata (no audio).

    Returns
    -------
    dict
        ``sources`` (list of :class:`SourceEvent`), ``drift`` (dict of
        :data:`DRIFT_KEYS`), ``meta`` (year, week, day, hour).
    """
    rng = _rng(cfg, _PLAN, sensor, clip)
    d = float(cfg.channel_drift)
    drift = {"drift_gain_db": d * rng.normal(0.0, 6.0)}
    for k in range(N_EQ_BANDS):
        drift[f"drift_eq{k}_db"] = d * rng.normal(0.0, 2.0)
    drift["drift_tilt_db_oct"] = d * rng.normal(0.0, 1.0)
    drift["drift_rt60_factor"] = float(np.exp(d * rng.normal(0.0, 0.3)))
    drift["drift_background_db"] = d * rng.normal(0.0, 4.0)
    drift["drift_rumble_db"] = d * rng.normal(0.0, 4.0)
    prior = np.array([params[f"prior_{c}"] for c in _coarse_label_columns()])
    # street clips are rarely silent: 0 sources with P_SILENT, else 1..max_sources
    silent = rng.uniform() < P_SILENT or cfg.max_sources == 0
    n_src = 0 if silent else int(rng.integers(1, cfg.max_sources + 1))
    classes = rng.choice(8, size=min(n_src, 8), replace=False, p=prior) + 1
    sources = []
    dur = float(cfg.duration_s)
    for c in sorted(int(x) for x in classes):
        fine = str(rng.choice(fine_codes(c)))
        lo = min(MIN_DUR_S[c - 1], dur)
        ev_dur = float(rng.uniform(lo, dur))
        onset = float(rng.uniform(0.0, dur - ev_dur))
        snr = float(cfg.source_snr_db + rng.normal(0.0, 4.0))
        prox = "near" if snr >= cfg.source_snr_db else "far"
        sources.append(SourceEvent(c, fine, onset, ev_dur, snr, prox))
    meta = {
        "year": int(rng.integers(2016, 2020)),
        "week": int(rng.integers(0, 53)),
        "day": int(rng.integers(0, 7)),
        "hour": int(rng.integers(0, 24)),
    }
    return {"sources": sources, "drift": {k: float(v) for k, v in drift.items()}, "meta": meta}


def apply_drift(params: dict, drift: dict) -> dict:
    """A clip's effective channel: the sensor's parameters moved by the clip's drift."""
    p = dict(params)
    for k in range(N_EQ_BANDS):
        p[f"eq{k}_gain_db"] += drift[f"drift_eq{k}_db"]
    p["noise_tilt_db_oct"] += drift["drift_tilt_db_oct"]
    p["rt60_s"] *= drift["drift_rt60_factor"]
    p["background_offset_db"] += drift["drift_background_db"]
    p["rumble_db"] += drift["drift_rumble_db"]
    p["gain_db"] = drift["drift_gain_db"]
    return p


# --------------------------------------------------------------------------- signal helpers


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


# --------------------------------------------------------------------------- sources


def _engine(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Harmonic series on a slowly varying 20-120 Hz fundamental, plus low rumble noise."""
    lo, hi = {"1": (70.0, 120.0), "2": (40.0, 75.0), "3": (20.0, 45.0)}[fine]
    f0 = rng.uniform(lo, hi) * (1.0 + 0.15 * _smooth(n, 0.7, sr, rng))
    k = np.arange(1, int(1200.0 / hi) + 1)
    # firing-order emphasis: even harmonics of a 4-stroke engine dominate
    amps = (1.0 / k) * (1.0 + (k % 2 == 0)) * rng.uniform(0.5, 1.0, len(k))
    tone = _harmonics(_phase(f0, sr, rng), amps)
    noise = _sos_filter(rng.standard_normal(n), "lowpass", 4.0 * hi, sr)
    return tone / (np.std(tone) + 1e-12) + 0.5 * noise / (np.std(noise) + 1e-12)


def _machinery_impact(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Periodic trains of broadband impacts (drills fast, pile-drivers slow)."""
    lo, hi, tau = {
        "1": (25.0, 40.0, 0.004),
        "2": (12.0, 25.0, 0.008),
        "3": (5.0, 12.0, 0.02),
        "4": (0.7, 1.5, 0.06),
    }[fine]
    rate = rng.uniform(lo, hi)
    period = 1.0 / rate
    times = np.arange(rng.uniform(0, period), n / sr, period)
    times = times + rng.normal(0.0, 0.02 * period, len(times))
    train = _impulse_train(times, rng.uniform(0.7, 1.0, len(times)), n, sr)
    dec = _decay(sr, tau, 6 * tau)
    t = np.arange(len(dec)) / sr
    thump_hz = rng.uniform(60.0, 160.0)
    kernel = rng.standard_normal(len(dec)) * dec + 2.0 * np.sin(2 * np.pi * thump_hz * t) * dec
    kernel = _sos_filter(kernel, "bandpass", (80.0, rng.uniform(3000.0, 8000.0)), sr)
    return _place(train, kernel)


def _non_machinery_impact(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Sparse, irregular knocks: Poisson times, damped modal resonances, varied strength."""
    out = np.zeros(n)
    dur = n / sr
    for _ in range(3):  # three kinds of object knocked, each with its own modes
        n_ev = max(1, rng.poisson(rng.uniform(0.3, 1.0) * dur))
        train = _impulse_train(rng.uniform(0, dur, n_ev), rng.lognormal(0.0, 0.5, n_ev), n, sr)
        t = np.arange(int(0.25 * sr)) / sr
        modes = rng.uniform(150.0, 2500.0, 3)
        taus = rng.uniform(0.015, 0.06, 3)
        kernel = sum(np.sin(2 * np.pi * f * t) * np.exp(-t / tau) for f, tau in zip(modes, taus))
        click = rng.standard_normal(len(t)) * np.exp(-t / 0.002)
        out += _place(train, kernel + 0.7 * click)
    return out


def _powered_saw(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Whine of a high harmonic tone whose pitch sags under cutting load, plus hiss."""
    f_lo, f_hi, n_harm = {
        "1": (450.0, 700.0, 10),
        "2": (2000.0, 4000.0, 3),
        "3": (1200.0, 2200.0, 4),
    }[fine]
    load = np.clip(_smooth(n, 1.5, sr, rng) * 1.5, 0.0, 1.0)  # 0 idle .. 1 cutting
    f0 = rng.uniform(f_lo, f_hi) * (1.0 - 0.2 * load)
    amps = 1.0 / np.arange(1, n_harm + 1) ** 0.5
    tone = _harmonics(_phase(f0, sr, rng), amps) * (0.6 + 0.4 * load)
    hiss = _sos_filter(rng.standard_normal(n), "highpass", 2500.0, sr) * (0.3 + 0.7 * load)
    out = tone / (np.std(tone) + 1e-12) + 0.6 * hiss / (np.std(hiss) + 1e-12)
    return _sos_filter(out, "highpass", 0.8 * f_lo, sr)


def _alert_signal(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Car horn chords, car alarm warbles, siren sweeps, reverse-beeper pulses."""
    t = np.arange(n) / sr
    if fine == "1":  # horn: 1-4 honks of a 2-3 note chord, brassy harmonics
        f = rng.uniform(350.0, 520.0)
        chord = f * np.array([1.0, 1.26, 1.5])[: int(rng.integers(2, 4))]
        tone = sum(
            _harmonics(_phase(np.full(n, fc), sr, rng), 1.0 / np.arange(1, 9)) for fc in chord
        )
        on = np.zeros(n, dtype=bool)
        for _ in range(int(rng.integers(1, 5))):
            a = rng.uniform(0, n / sr)
            on |= (t >= a) & (t < a + rng.uniform(0.2, 1.2))
        gate = _sos_filter(on.astype(float), "lowpass", 40.0, sr)
        return tone * gate
    if fine == "2":  # car alarm: fast warble between two bands
        rate = rng.uniform(4.0, 10.0)
        f = rng.uniform(900.0, 1400.0) * (1.0 + 0.6 * (np.sin(2 * np.pi * rate * t) > 0))
        return np.sign(np.sin(_phase(f, sr, rng))) * 0.3 + np.sin(_phase(f, sr, rng))
    if fine == "3":  # siren: wail (slow) or yelp (fast) triangular sweep
        period = rng.uniform(2.0, 5.0) if rng.uniform() < 0.6 else rng.uniform(0.15, 0.4)
        tri = 2.0 * np.abs(2.0 * ((t / period + rng.uniform()) % 1.0) - 1.0) - 1.0
        f = rng.uniform(900.0, 1300.0) + rng.uniform(300.0, 500.0) * tri
        return _harmonics(_phase(f, sr, rng), 1.0 / np.arange(1, 6) ** 1.5)
    # reverse beeper: pure ~1.2 kHz tone, 0.5 s on / 0.5 s off
    f = rng.uniform(1000.0, 1400.0)
    gate = ((t + rng.uniform(0, 1.0)) % 1.0 < 0.5).astype(float)
    gate = _sos_filter(gate, "lowpass", 80.0, sr)
    return _harmonics(_phase(np.full(n, f), sr, rng), np.array([1.0, 0.0, 0.15])) * gate


def _music(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Melody notes with harmonics over a kick/hi-hat beat (ice-cream truck: chimes only)."""
    t = np.arange(n) / sr
    beat = 60.0 / rng.uniform(80.0, 140.0)
    step = beat / float(rng.choice([1, 2]))
    onsets = np.arange(0.0, n / sr, step)
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])  # pentatonic, two octaves
    root = 880.0 if fine == "3" else rng.uniform(220.0, 440.0)
    walk = np.clip(np.cumsum(rng.integers(-2, 3, len(onsets))) + 3, 0, len(scale) - 1)
    freqs = root * 2.0 ** (scale[walk] / 12.0)
    idx = np.clip(np.searchsorted(onsets, t, side="right") - 1, 0, len(onsets) - 1)
    since = t - onsets[idx]
    f_inst = freqs[idx] * (1.0 + (0.01 * _smooth(n, 0.3, sr, rng) if fine == "2" else 0.0))
    decay = 0.15 if fine == "3" else 0.35
    env = (1.0 - np.exp(-since / 0.005)) * np.exp(-since / decay)
    n_h = 3 if fine == "3" else 6
    melody = _harmonics(_phase(f_inst, sr, rng), 1.0 / np.arange(1, n_h + 1) ** 1.2) * env
    if fine == "3":
        return melody
    beats = np.arange(rng.uniform(0, beat), n / sr, beat)
    kt = np.arange(int(0.2 * sr)) / sr
    kick = np.sin(2 * np.pi * (50.0 * kt + 400.0 * 0.03 * (1 - np.exp(-kt / 0.03)))) * np.exp(
        -kt / 0.08
    )
    hat = _sos_filter(rng.standard_normal(int(0.05 * sr)), "highpass", 6000.0, sr)
    hat *= np.exp(-np.arange(len(hat)) / (0.01 * sr))
    ones = np.ones(len(beats))
    drums = _place(_impulse_train(beats, ones, n, sr), 2.0 * kick)
    drums += _place(_impulse_train(beats + beat / 2, ones, n, sr), 0.5 * hat)
    bass = _harmonics(_phase(np.full(n, root / 4), sr, rng), np.array([1.0, 0.5])) * 0.5
    out = melody + drums + bass
    if fine == "2":  # passing car: fade in and out
        out *= np.sin(np.pi * t / t[-1]) if n > 1 else 1.0
    return out


#: (F1, F2, F3) formants of five vowels, Hz
_VOWELS = np.array(
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]]
)


def _voice(n: int, sr: int, rng: np.random.Generator, f0_range, syl_rate, n_voices: int):
    """Glottal pulse trains with syllable envelopes, filtered by per-syllable vowel formants."""
    by_vowel = np.zeros((len(_VOWELS), n))
    for _ in range(n_voices):
        f0 = rng.uniform(*f0_range) * (1.0 + 0.2 * _smooth(n, 2.0, sr, rng))
        # the excitation is a unit pulse train: only its pulses (idx) can add anything
        idx = _pulse_index(_phase(f0, sr, rng))
        rate = rng.uniform(*syl_rate)
        u = rng.uniform()
        # syllable index per sample, floor(t * rate + u), non-decreasing: the last is the max
        n_syl = int(np.floor((n - 1) / sr * rate + u)) + 1
        tr = idx / sr * rate  # t * rate at the pulses
        syl = np.floor(tr + u).astype(int)
        vowel = rng.integers(0, len(_VOWELS), n_syl)[syl]
        talk = rng.uniform(size=n_syl)[syl] < 0.8  # pauses between words
        env = np.sin(np.pi * (tr - np.floor(tr))) ** 2 * talk  # (t * rate) % 1, exactly
        by_vowel[vowel, idx] += env
    out = np.zeros(n)
    for v, (f1, f2, f3) in enumerate(_VOWELS):
        if by_vowel[v].any():
            out += _resonators(by_vowel[v], (f1, f2, f3), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3), sr)
    return out


def _human_voice(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Talking, shouting, crowd babble or megaphone speech."""
    if fine == "1":
        return _voice(n, sr, rng, (90.0, 240.0), (3.0, 6.0), int(rng.integers(1, 3)))
    if fine == "2":
        return _voice(n, sr, rng, (250.0, 420.0), (1.5, 3.0), 1)
    if fine == "3":
        return _voice(n, sr, rng, (90.0, 280.0), (3.0, 6.0), int(rng.integers(6, 11)))
    if fine == "4":  # amplified: band-limited, slightly overdriven
        x = _voice(n, sr, rng, (90.0, 200.0), (3.0, 5.0), 1)
        x = _sos_filter(x, "bandpass", (300.0, 3500.0), sr, order=3)
        return np.tanh(3.0 * x / (np.std(x) + 1e-12))
    return _voice(n, sr, rng, (90.0, 400.0), (2.0, 6.0), int(rng.integers(1, 4)))


def _dog(fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Barks (short pitched bursts with falling pitch, formant-filtered) or a whine."""
    t = np.arange(n) / sr
    if rng.uniform() < 0.2:  # whine: long high tonal glide
        f = rng.uniform(700.0, 1300.0) * (1.0 + 0.2 * _smooth(n, 1.0, sr, rng))
        return _harmonics(_phase(f, sr, rng), np.array([1.0, 0.3, 0.1])) * _envelope(n, sr, 0.1)
    n_bark = int(rng.integers(1, 7))
    onsets = np.sort(rng.uniform(0, max(n / sr - 0.3, 0.01), n_bark))
    lens = rng.uniform(0.08, 0.25, n_bark)
    idx = np.clip(np.searchsorted(onsets, t, side="right") - 1, 0, n_bark - 1)
    since = t - onsets[idx]
    on = (since >= 0) & (since < lens[idx])
    f0 = rng.uniform(350.0, 800.0) * (1.0 - 0.3 * np.clip(since / lens[idx], 0, 1))
    env = (
        on
        * np.exp(-np.clip(since, 0, None) / 0.08)
        * (1.0 - np.exp(-np.clip(since, 0, None) / 0.004))
    )
    exc = _pulses(_phase(f0, sr, rng)) + 0.05 * rng.standard_normal(n)
    return _resonators(
        exc * env, (rng.uniform(800, 1200), rng.uniform(2000, 3000)), (300.0, 500.0), (1.0, 0.5), sr
    )


_GENERATORS = {
    1: _engine,
    2: _machinery_impact,
    3: _non_machinery_impact,
    4: _powered_saw,
    5: _alert_signal,
    6: _music,
    7: _human_voice,
    8: _dog,
}


def render_source(coarse: int, fine: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render one dry source event at unit RMS.

    Parameters
    ----------
    coarse : int
        Coarse class 1..8.
    fine : str
        Fine class code of ``coarse`` (see :func:`fine_codes`).
    n : int
        Length in samples.
    sr : int
        Sample rate, Hz.

    Returns
    -------
    Array[n]
        The event, faded in and out, RMS 1.
    """
    if coarse not in _GENERATORS:
        raise ValueError(f"coarse class must be 1..8, got {coarse!r}")
    if fine not in fine_codes(coarse):
        raise ValueError(
            f"fine class {fine!r} is not one of {fine_codes(coarse)} for coarse {coarse}"
        )
    x = _fade(_GENERATORS[coarse](fine, n, sr, rng), sr)  # x * _envelope(n, sr)
    rms = np.sqrt(np.mean(x**2))
    assert np.isfinite(rms), f"non-finite source {coarse}-{fine}"
    return x / rms if rms > 0 else x


# --------------------------------------------------------------------------- channel


_LN10_20 = math.log(10.0) / 20.0  #: 10 ** (x / 20) == exp(x * _LN10_20)


@lru_cache(maxsize=4)
def _bin_octaves(n: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """rfft bin frequencies of ``n`` samples and their octaves re. 1 kHz (floor 20 Hz), read-only."""
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
    y = signal.sosfilt(mic_sos(params, sr), wet)
    y += hum(params, n, sr, rng) * bg_rms
    y *= 10.0 ** (params.get("gain_db", 0.0) / 20.0)
    peak = np.max(np.abs(y))
    return y * (0.89 / peak) if peak > 0.89 else y  # headroom: never clip the 16-bit file


# --------------------------------------------------------------------------- annotations

#: chance that an annotator leaves a whole class group unlabelled (-1)
P_UNLABELLED_VOLUNTEER = 0.02
P_UNLABELLED_TEAM = 0.3
P_TEAM_ROW = 0.25  #: share of train clips that also get a SONYC team row
P_TRUE_FINE = 0.6  #: a volunteer who hears a source names its fine class (else "X")
P_TRUE_PROXIMITY = 0.7


@lru_cache(maxsize=1)
def _fine_cols() -> dict[int, dict[str, tuple[str, str]]]:
    """``{coarse: {fine code: (presence column, proximity column)}}`` (cached: do not mutate)."""
    tax = taxonomy.load_taxonomy()["fine"]
    return {
        c: {f: (f"{c}-{f}_{name}_presence", f"{c}-{f}_{name}_proximity") for f, name in d.items()}
        for c, d in tax.items()
    }


@lru_cache(maxsize=1)
def _coarse_presence_columns() -> tuple[str, ...]:
    return taxonomy.coarse_presence_columns()


def _label_group(row: dict, c: int, state: str, fine: str | None, prox: str | None) -> None:
    """Fill coarse class ``c``'s columns of ``row``: state is present, absent or unlabelled."""
    cols = _fine_cols()[c]
    coarse_col = _coarse_presence_columns()[c - 1]
    for f, (pc, xc) in cols.items():
        row[pc] = -1 if state == "unlabelled" else int(state == "present" and f == fine)
        row[xc] = prox if (state == "present" and f == fine) else "-1"
    row[coarse_col] = {"present": 1, "absent": 0, "unlabelled": -1}[state]


def _noisy_row(truth: dict, rng: np.random.Generator, miss: float, fa: float, p_unl: float) -> dict:
    """One crowd/team annotation of a clip: misses, false alarms, vague fine classes."""
    row: dict = {}
    for c in range(1, 9):
        t_fine, t_prox = truth.get(c, (None, None))
        u = rng.uniform(size=4)
        if u[0] < p_unl:
            _label_group(row, c, "unlabelled", None, None)
            continue
        heard = (u[1] >= miss) if t_fine is not None else (u[1] < fa)
        if not heard:
            _label_group(row, c, "absent", None, None)
            continue
        codes = tuple(_fine_cols()[c])
        if t_fine is None:  # false alarm: any fine column, any proximity
            fine, prox = str(rng.choice(codes)), str(rng.choice(PROXIMITIES))
        else:
            fine = t_fine if (u[2] < P_TRUE_FINE or "X" not in codes) else "X"
            prox = t_prox if u[3] < P_TRUE_PROXIMITY else str(rng.choice(PROXIMITIES))
        _label_group(row, c, "present", fine, prox)
    return row


def _verified_row(truth: dict) -> dict:
    row: dict = {}
    for c in range(1, 9):
        fine, prox = truth.get(c, (None, None))
        _label_group(row, c, "present" if fine else "absent", fine, prox)
    return row


def clip_annotations(
    cfg: SynthConfig, sensor: int, clip: int, split: str, meta: dict, sources: list[SourceEvent]
) -> list[dict]:
    """All annotation rows of one clip (SONYC semantics of ``annotator_id``).

    Every clip gets ``n_volunteers`` volunteer rows (distinct ids > 0); some train
    clips also get a SONYC team row (id < 0, groups often -1); validate/test clips
    get the verified row (id 0) equal to the truth.
    """
    rng = _rng(cfg, _ANNOT, sensor, clip)
    truth = {ev.coarse: (ev.fine, ev.proximity) for ev in sources}
    rows = []
    ids = rng.choice(np.arange(1, 2001), size=cfg.n_volunteers, replace=False)
    for a in ids:
        r = _noisy_row(
            truth, rng, cfg.volunteer_miss, cfg.volunteer_false_alarm, P_UNLABELLED_VOLUNTEER
        )
        rows.append({**meta, "annotator_id": int(a), **r})
    if split == "train" and rng.uniform() < P_TEAM_ROW:
        r = _noisy_row(truth, rng, 0.05, 0.01, P_UNLABELLED_TEAM)
        rows.append({**meta, "annotator_id": -int(rng.integers(1, 11)), **r})
    if split != "train":
        rows.append({**meta, "annotator_id": 0, **_verified_row(truth)})
    return rows


# --------------------------------------------------------------------------- the dataset


def _check(cfg: SynthConfig) -> None:
    checks = [
        ("n_sensors", cfg.n_sensors >= 1, ">= 1"),
        ("clips_per_sensor", cfg.clips_per_sensor >= 1, ">= 1"),
        ("duration_s", cfg.duration_s > 0, "> 0"),
        ("sample_rate", cfg.sample_rate >= 8000, ">= 8000 Hz"),
        ("max_sources", 0 <= cfg.max_sources <= 8, "in 0..8"),
        ("n_volunteers", cfg.n_volunteers >= 1, ">= 1"),
        ("volunteer_miss", 0 <= cfg.volunteer_miss <= 1, "in [0, 1]"),
        ("volunteer_false_alarm", 0 <= cfg.volunteer_false_alarm <= 1, "in [0, 1]"),
        ("channel_spread", cfg.channel_spread >= 0, ">= 0"),
        ("channel_drift", cfg.channel_drift >= 0, ">= 0"),
        ("prior_concentration", cfg.prior_concentration > 0, "> 0"),
    ]
    for name, ok, want in checks:
        if not ok:
            raise ValueError(f"synth.{name} = {getattr(cfg, name)!r}: expected {want}")


def _wav_ok(path: Path, n: int, sr: int) -> bool:
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return (
        info.frames == n
        and info.samplerate == sr
        and info.channels == 1
        and info.subtype == "PCM_16"
    )


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM mono WAV file of ``y`` (floats in [-1, 1)).

    The bytes libsndfile (``soundfile.write(..., subtype="PCM_16")``) writes, formed in numpy:
    its 44-byte header, and its conversion ``round(y * 2**31) >> 16`` (a tested identity;
    soundfile's write through a Python file object costs ~7x more). Signals reaching +-1,
    which libsndfile would clip, go through soundfile itself.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or not np.all(np.abs(y) < 1.0):
        buf = io.BytesIO()
        sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    pcm = np.right_shift(np.rint(y * 2147483648.0).astype(np.int64), 16).astype("<i2").tobytes()
    riff = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)  # PCM, mono, 16 bit
    return b"".join([riff, fmt, b"data", struct.pack("<I", len(pcm)), pcm])


def _stamp(cfg: SynthConfig) -> dict:
    return json.loads(
        json.dumps(
            {
                "config": to_dict(cfg),
                "dataset": dataset_name(cfg),
                "synth_version": SYNTH_VERSION,
                "mvlib_version": __version__,
            }
        )
    )


def _is_complete(out: Path, cfg: SynthConfig, stamp: dict | None) -> bool:
    if not (stamp and stamp.get("complete") and stamp.get("config") == _stamp(cfg)["config"]):
        return False
    if not ((out / "annotations.csv").exists() and (out / "truth.json").exists()):
        return False
    return all(
        (out / "audio" / audio_filename(s, c)).exists()
        for s in range(cfg.n_sensors)
        for c in range(cfg.clips_per_sensor)
    )


def _read_stamp(out: Path) -> dict | None:
    path = out / MARKER
    if not path.exists():
        return None
    try:
        stamp = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFolderError(
            path,
            f"mvlib's generation marker is not valid JSON ({e})",
            "delete the folder to regenerate the set, or delete only synth.json to keep the "
            "files as a dataset of your own (mvlib then never writes into it)",
        ) from e
    return stamp if isinstance(stamp, dict) else None


class DatasetFolderError(MvlibError):
    """A folder that mvlib may not (re)write: not created by mvlib, another config, or edited."""


def folder_manifest(out: Path, annotations_text: str | None = None) -> dict:
    """Cheap identity of a generated set: sha256 of annotations.csv, size of every audio file."""
    out = Path(out)
    if annotations_text is None:
        blob = (out / "annotations.csv").read_bytes()
    else:
        blob = annotations_text.encode("utf-8")
    audio = {}
    if (out / "audio").is_dir():
        for entry in os.scandir(out / "audio"):
            if entry.is_file():
                audio[entry.name] = entry.stat().st_size
    return {
        "annotations_sha256": hashlib.sha256(blob).hexdigest(),
        "audio_sizes": dict(sorted(audio.items())),
    }


def _manifest_diff(out: Path, manifest: dict) -> str | None:
    """None when ``out`` still matches ``manifest``, else a short description of the change."""
    if not (out / "annotations.csv").is_file():
        return "annotations.csv was removed"
    now = folder_manifest(out)
    changes = []
    if now["annotations_sha256"] != manifest.get("annotations_sha256"):
        changes.append("annotations.csv changed")
    was, have = manifest.get("audio_sizes", {}), now["audio_sizes"]
    gone = sorted(set(was) - set(have))
    new = sorted(set(have) - set(was))
    resized = sorted(k for k in set(was) & set(have) if was[k] != have[k])
    for n, what in ((len(gone), "removed"), (len(new), "added"), (len(resized), "changed")):
        if n:
            changes.append(f"{n} audio file(s) {what}")
    return ", ".join(changes) or None


def folder_state(out: str | os.PathLike, cfg: SynthConfig | None = None) -> tuple[str, str]:
    """What a folder is to the generator: ``(state, detail)``.

    States: ``"new"`` (absent or empty), ``"complete"`` (mvlib's set of ``cfg``, unchanged),
    ``"incomplete"`` (mvlib's set of ``cfg``, generation not finished: safe to resume),
    ``"other_config"`` (mvlib's set of other settings), ``"edited"`` (mvlib's finished set,
    changed since: files removed, added or rewritten), ``"foreign"`` (files mvlib did not
    write). With ``cfg`` None, any complete set of mvlib's is ``"complete"``.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return "new", ""
    if not out.is_dir():
        return "foreign", "not a folder"
    stamp = _read_stamp(out)
    if stamp is None or "config" not in stamp:
        return "foreign", "no synth.json marker"
    if cfg is not None and stamp.get("config") != _stamp(cfg)["config"]:
        return "other_config", f"set {stamp.get('dataset')!r}, not {dataset_name(cfg)!r}"
    if not stamp.get("complete"):
        return "incomplete", "generation was interrupted"
    manifest = stamp.get("manifest")
    if manifest is not None:
        diff = _manifest_diff(out, manifest)
    else:  # marker of an older mvlib: files present or not
        from mvlib.core.config import from_dict

        mine = cfg or from_dict(stamp["config"], SynthConfig, "synth")
        diff = None if _is_complete(out, mine, stamp) else "files were removed"
    return ("edited", diff) if diff else ("complete", "")


def _render_sensor(cfg: SynthConfig, s: int, audio_dir: str) -> int:
    """Write every missing or invalid wav of sensor ``s``; returns how many were written."""
    sr, n = int(cfg.sample_rate), int(round(cfg.duration_s * cfg.sample_rate))
    params = sensor_params(cfg, s)
    written = 0
    for c in range(cfg.clips_per_sensor):
        path = Path(audio_dir) / audio_filename(s, c)
        if _wav_ok(path, n, sr):
            continue
        plan = clip_plan(cfg, s, c, params)
        y = synthesize_clip(
            cfg, apply_drift(params, plan["drift"]), plan["sources"], _rng(cfg, _AUDIO, s, c)
        )
        # all-or-nothing by rename; flushed to disk once by generate() before it marks the
        # set complete (one fsync per wav cost 1-5 ms of a ~37 ms clip)
        atomic_write_bytes(path, _wav_bytes(y, sr), durable=False)
        written += 1
    return written


def _render_all(cfg: SynthConfig, audio_dir: Path, workers: int, progress: bool) -> None:
    """Render audio sensor by sensor, in ``workers`` processes (spawned: safe in kernels)."""
    from tqdm import tqdm

    bar = tqdm(total=cfg.n_sensors, desc="synth audio", unit="sensor", disable=not progress)
    if workers <= 1:
        for s in range(cfg.n_sensors):
            _render_sensor(cfg, s, str(audio_dir))
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = [
                pool.submit(_render_sensor, cfg, s, str(audio_dir)) for s in range(cfg.n_sensors)
            ]
            for f in futs:
                f.result()
                bar.update()
    bar.close()


def generate(
    cfg: SynthConfig,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int | None = None,
    repair: bool = False,
) -> Path:
    """Write (or finish writing) the synthetic SONYC-format dataset.

    Idempotent and resumable: a complete dataset of the same config returns at
    once; otherwise valid wavs already present are kept and the rest written
    (each atomically), then ``annotations.csv``, ``truth.json`` and, last,
    ``synth.json`` with ``complete: true`` and a manifest of the files.

    A user's files are read-only: generation writes only into a new or empty folder,
    or one holding mvlib's marker (``synth.json``) of the same settings whose
    generation was interrupted. A folder of other files, of another config, or a
    finished set changed since (a sensor removed, say) raises
    :class:`DatasetFolderError`; ``repair=True`` rewrites an edited set of the same
    settings back to what the generator makes.

    Parameters
    ----------
    cfg : SynthConfig
        What to generate.
    out_dir : path, optional
        Target folder; default ``<cache>/datasets/<dataset_name(cfg)>``.
    progress : bool
        Show a tqdm bar over sensors.
    workers : int, optional
        Processes rendering audio (default: the CPU count, at most 8; 1 for sets under two
        minutes of audio, where starting processes costs more). Every clip has its
        own seeded generator, so the files are identical for any number of workers.
    repair : bool
        Rewrite a finished set of these settings that was changed since (never a folder
        of other files or settings).

    Returns
    -------
    Path
        The dataset folder.
    """
    _check(cfg)
    out = Path(out_dir) if out_dir is not None else cache_dir("datasets", dataset_name(cfg))
    state, detail = folder_state(out, cfg)
    if state == "complete":
        return out
    if state == "foreign":
        what = "holds files that mvlib did not write"
        if (out / "annotations.csv").exists():
            what = "holds a dataset that mvlib did not generate (annotations.csv, no synth.json)"
        raise DatasetFolderError(
            out,
            f"{what}; mvlib never writes into such a folder",
            "generate into a new or empty folder (mvlib synth --out NEW_DIR), or use this "
            "dataset as it is with --set data.root=" + str(out),
        )
    if state == "other_config":
        raise DatasetFolderError(
            out,
            f"holds a synthetic set of other settings ({detail})",
            "generate into another folder, or delete this one to regenerate it",
        )
    if state == "edited" and not repair:
        raise DatasetFolderError(
            out,
            f"this synthetic set was changed since mvlib generated it ({detail}); "
            "mvlib does not revert your edits",
            "use it as it is (--set data.root=" + str(out) + "), generate into a new folder, "
            "or rewrite it with `mvlib synth --repair`",
        )
    (out / "audio").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MARKER, {**_stamp(cfg), "complete": False})
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
        if cfg.n_sensors * cfg.clips_per_sensor * cfg.duration_s < 120:
            workers = 1  # a tiny set renders faster than worker processes start
    _render_all(cfg, out / "audio", min(workers, cfg.n_sensors), progress)
    os.sync()  # the wavs were written without fsync each: on disk before marked complete
    splits = sensor_splits(cfg)
    rows, sensors, clips = [], [], []
    for s in range(cfg.n_sensors):
        params, smeta = sensor_params(cfg, s), sensor_meta(cfg, s)
        sensors.append({"sensor_id": s, "split": splits[s], **smeta, **params})
        for c in range(cfg.clips_per_sensor):
            plan = clip_plan(cfg, s, c, params)
            path = out / "audio" / audio_filename(s, c)
            meta = {
                "split": splits[s],
                "sensor_id": s,
                "audio_filename": path.name,
                **smeta,
                **plan["meta"],
            }
            rows += clip_annotations(cfg, s, c, splits[s], meta, plan["sources"])
            clips.append(_truth_clip(s, c, splits[s], plan))
    table = pd.DataFrame(rows, columns=list(taxonomy.annotation_columns()))
    assert not table.isna().any().any(), "annotation table has holes"
    text = table.to_csv(index=False)
    atomic_write_text(out / "annotations.csv", text)
    atomic_write_json(
        out / "truth.json", {"synth_version": SYNTH_VERSION, "sensors": sensors, "clips": clips}
    )
    _drop_stray_audio(out / "audio")
    manifest = folder_manifest(out, annotations_text=text)
    atomic_write_json(out / MARKER, {**_stamp(cfg), "complete": True, "manifest": manifest})
    return out


def _drop_stray_audio(audio_dir: Path) -> None:
    """Remove temp files of an interrupted atomic write (ours: hidden ``.*.tmp`` names)."""
    for p in audio_dir.glob(".*.tmp"):
        p.unlink(missing_ok=True)


def _truth_clip(sensor: int, clip: int, split: str, plan: dict) -> dict:
    name = audio_filename(sensor, clip)
    d = {
        "clip_id": Path(name).stem,
        "audio_filename": name,
        "sensor_id": sensor,
        "clip_index": clip,
        "split": split,
    }
    by_class = {ev.coarse: ev for ev in plan["sources"]}
    for c, col in enumerate(taxonomy.coarse_label_columns(), start=1):
        ev = by_class.get(c)
        d[col] = int(ev is not None)
        d[f"{col}_fine"] = ev.fine if ev else ""
        d[f"{col}_proximity"] = ev.proximity if ev else ""
        d[f"{col}_snr_db"] = ev.snr_db if ev else None
    d.update(plan["drift"])
    d["sources"] = [asdict(ev) for ev in plan["sources"]]
    return d


def has_ground_truth(root: str | os.PathLike) -> bool:
    """True for a set this generator wrote and finished, unchanged since: its truth.json holds.

    A folder of other data (a copy of SONYC-UST-V2) has no ground truth, and an edited set's
    truth.json no longer describes its files.
    """
    try:
        state = folder_state(root)[0]
    except DatasetFolderError:
        return False
    return state == "complete" and (Path(root) / "truth.json").is_file()


def load_truth(root: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read ``truth.json`` of a synthetic set.

    Returns
    -------
    dict
        ``sensors``: one row per sensor (``sensor_id``, split, location, every
        channel parameter and source prior as scalar columns); ``clips``: one row
        per clip (``clip_id``, ``audio_filename``, ``sensor_id``, split, the 8
        coarse label columns as 0/1, per class ``<col>_fine``, ``<col>_proximity``,
        ``<col>_snr_db`` (NaN when absent), and the ``drift_*`` values).
    """
    path = Path(root) / "truth.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no truth.json; is {root} a synthetic set written by mvlib.data.synth?"
        )
    data = json.loads(path.read_text())
    for key in ("sensors", "clips"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    sensors = pd.DataFrame(data["sensors"])
    clips = pd.DataFrame([{k: v for k, v in d.items() if k != "sources"} for d in data["clips"]])
    for col in taxonomy.coarse_label_columns():
        clips[f"{col}_snr_db"] = clips[f"{col}_snr_db"].astype(float)
    return {"sensors": sensors, "clips": clips}


def label_agreement(clips: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """How the aggregated labels of ``clips`` compare with the true sources, per class.

    Returns one row per label source ("volunteers": train clips, union of volunteers;
    "verified": validate/test clips) with per-class agreement, miss and false-alarm rates.
    """
    cols = list(taxonomy.coarse_label_columns())
    # the loader's clip_id is the audio file name
    t = truth["clips"].set_index("audio_filename").loc[clips["clip_id"], cols].to_numpy()
    y = clips[cols].to_numpy()
    rows = []
    for source in sorted(clips["label_source"].unique()):
        m = (clips["label_source"] == source).to_numpy()
        pos, neg = t[m] == 1, t[m] == 0
        rows.append(
            {
                "labels from": source,
                "clips": int(m.sum()),
                "agreement": float((y[m] == t[m]).mean()),
                "missed (of true sources)": float((y[m][pos] == 0).mean()) if pos.any() else 0.0,
                "false alarms (of absent)": float((y[m][neg] == 1).mean()) if neg.any() else 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("labels from").round(3)
