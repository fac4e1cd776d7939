"""Tests of mvlib.data.synth.dsp.

Signal building blocks: each fast path equals its plain expression.
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from synth_cases import SR

from mvlib.data.synth import dsp


def test_harmonics_recurrence_equals_sin_loop():
    """Chebyshev recurrence vs one np.sin per harmonic: equal to float rounding."""
    rng = np.random.default_rng(0)
    n = 3 * SR
    f0 = rng.uniform(20.0, 4000.0) * (1.0 + 0.3 * dsp._smooth(n, 2.0, SR, rng))
    phase = dsp._phase(f0, SR, rng)  # running phase: large arguments, as in the generator
    for amps in (
        np.array([1.0]),
        np.array([1.0, 0.0, 0.15]),
        1.0 / np.arange(1, 27),
        rng.uniform(0.5, 1.0, (5, n)),  # Array[K x N]: amplitudes varying in time
    ):
        ref = np.zeros(n)
        for k in range(len(amps)):
            ref += amps[k] * np.sin((k + 1) * phase)
        got = dsp._harmonics(phase, amps)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(amps).sum())
    assert not dsp._harmonics(phase, np.array([])).any()


def test_pulse_index_marks_the_pulses():
    rng = np.random.default_rng(1)
    phase = dsp._phase(rng.uniform(80.0, 400.0, SR), SR, rng)
    pulses = dsp._pulses(phase)
    assert np.array_equal(dsp._pulse_index(phase), np.flatnonzero(pulses))


def test_smooth_and_resonators_fast_paths_are_exact():
    rng = np.random.default_rng(5)
    for n, rate in ((SR, 0.3), (12345, 2.0)):
        a = dsp._smooth(n, rate, SR, np.random.default_rng(6))
        r = np.random.default_rng(6)  # the formula before caching the weights
        n_ctrl = max(2, int(np.ceil(n / SR * rate)) + 2)
        ctrl = r.uniform(-1.0, 1.0, n_ctrl)
        x = np.linspace(0.0, n_ctrl - 1.0, n)
        i = np.minimum(x.astype(int), n_ctrl - 2)
        w = x - i
        w = w * w * (3.0 - 2.0 * w)
        assert np.array_equal(a, ctrl[i] * (1.0 - w) + ctrl[i + 1] * w)
    x = np.zeros(SR)
    x[3000::150] = rng.uniform(0.5, 1.0, len(x[3000::150]))
    got = dsp._resonators(x, (730, 1090, 2440), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3), SR)
    ref = np.zeros(SR)
    for f, bw, g in zip((730, 1090, 2440), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3)):
        sos = signal.butter(1, (f - bw / 2, f + bw / 2), "bandpass", fs=SR, output="sos")
        ref += g * signal.sosfilt(sos, x)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_fade_in_place_equals_envelope():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 100, 881, SR + 1):
        x = rng.standard_normal(n)
        ref = x * dsp._envelope(n, SR)
        assert np.array_equal(dsp._fade(x.copy(), SR), ref), n
