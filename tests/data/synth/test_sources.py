"""Tests of mvlib.data.synth.sources.

The 8 source generators: unit RMS, pitch, rhythm, the sparse voice.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from synth_cases import SR

from mvlib.data.synth import dsp, sources
from mvlib.data.synth.plan import fine_codes
from mvlib.data.synth.sources import render_source


def _band_fraction(x, lo, hi, sr=SR):
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return p[(f >= lo) & (f < hi)].sum() / p.sum()


@pytest.mark.parametrize("coarse", range(1, 9))
def test_every_fine_class_renders_unit_rms(coarse):
    for fine in fine_codes(coarse):
        x = render_source(coarse, fine, SR, SR, np.random.default_rng(0))
        assert x.shape == (SR,) and np.isfinite(x).all()
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fine class"):
        render_source(coarse, "Z", SR, SR, np.random.default_rng(0))


def test_engine_is_low_saw_is_high():
    rng = np.random.default_rng(1)
    for fine in fine_codes(1):
        x = render_source(1, fine, 2 * SR, SR, rng)
        assert _band_fraction(x, 0, 500) > 0.8, fine
        assert _band_fraction(x, 2000, SR / 2) < 0.01, fine
    for fine in fine_codes(4):
        x = render_source(4, fine, 2 * SR, SR, rng)
        assert _band_fraction(x, 0, 500) < 0.02, fine
        assert _band_fraction(x, 2000, SR / 2) > 0.45, fine


def _peak_track(x, sr=SR):
    f, _, z = signal.stft(x, fs=sr, nperseg=1024)
    mag = np.abs(z)
    loud = mag.max(axis=0) > 0.1 * mag.max()
    return f[mag.argmax(axis=0)][loud]


def test_siren_sweeps_beeper_holds_its_pitch():
    sweeps = [
        np.ptp(_peak_track(render_source(5, "3", 3 * SR, SR, np.random.default_rng(s))))
        for s in range(4)
    ]
    steady = [
        np.ptp(_peak_track(render_source(5, "4", 3 * SR, SR, np.random.default_rng(s))))
        for s in range(4)
    ]
    assert min(sweeps) > 400.0, sweeps  # sweeps span 600-1000 Hz
    assert max(steady) < 50.0, steady


def test_jackhammer_pulses_at_its_rate():
    x = render_source(2, "2", 4 * SR, SR, np.random.default_rng(2))
    env = signal.decimate(np.abs(x), 16)  # 1 kHz envelope
    spec = np.abs(np.fft.rfft(env - env.mean()))
    f = np.fft.rfftfreq(len(env), 16 / SR)
    peak = f[np.argmax(spec * (f > 2.0))]
    assert 12.0 <= peak <= 25.0, peak  # jackhammer blows per second


def test_dog_barks_are_short_bursts():
    x = render_source(8, "1", 4 * SR, SR, np.random.default_rng(5))
    frames = np.sqrt(np.mean(x[: len(x) // 160 * 160].reshape(-1, 160) ** 2, axis=1))  # 10 ms
    assert (frames > 0.1 * frames.max()).mean() < 0.5  # mostly silence between barks


def _voice_reference(n, sr, rng, f0_range, syl_rate, n_voices):
    """mvlib 0.x's _voice: dense per-sample excitation (the sparse version must equal it)."""
    t = np.arange(n) / sr
    by_vowel = np.zeros((len(sources._VOWELS), n))
    for _ in range(n_voices):
        f0 = rng.uniform(*f0_range) * (1.0 + 0.2 * dsp._smooth(n, 2.0, sr, rng))
        exc = dsp._pulses(dsp._phase(f0, sr, rng))
        rate = rng.uniform(*syl_rate)
        syl = np.floor(t * rate + rng.uniform()).astype(int)
        vowel = rng.integers(0, len(sources._VOWELS), syl.max() + 1)[syl]
        talk = rng.uniform(size=syl.max() + 1)[syl] < 0.8
        env = np.sin(np.pi * ((t * rate) % 1.0)) ** 2 * talk
        by_vowel[vowel, np.arange(n)] += exc * env
    out = np.zeros(n)
    for v, (f1, f2, f3) in enumerate(sources._VOWELS):
        if by_vowel[v].any():
            out += dsp._resonators(
                by_vowel[v], (f1, f2, f3), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3), sr
            )
    return out


@pytest.mark.parametrize("sr", (16000, 22050))
def test_sparse_voice_equals_dense_reference(sr):
    for seed, (f0r, rate, voices) in enumerate(
        [((90.0, 240.0), (3.0, 6.0), 2), ((250.0, 420.0), (1.5, 3.0), 1), ((90, 280), (3, 6), 9)]
    ):
        n = int(1.3 * sr) + seed
        a = sources._voice(n, sr, np.random.default_rng(seed), f0r, rate, voices)
        b = _voice_reference(n, sr, np.random.default_rng(seed), f0r, rate, voices)
        assert np.array_equal(a, b), seed
