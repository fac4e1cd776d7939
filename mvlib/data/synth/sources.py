"""The 8 sound-source generators of the synthesiser, one per SONYC coarse class.

Harmonic engines, impact trains, saw whine, horns/alarms/sirens/beepers, melodies over a
beat, formant voices and barks, each rendered dry at unit RMS by :func:`render_source`.
"""

from __future__ import annotations

import numpy as np

from mvlib.data.synth.dsp import (
    _decay,
    _envelope,
    _fade,
    _harmonics,
    _impulse_train,
    _phase,
    _place,
    _pulse_index,
    _pulses,
    _resonators,
    _smooth,
    _sos_filter,
)
from mvlib.data.synth.plan import fine_codes


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
