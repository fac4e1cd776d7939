"""Tests of mvlib.data.synth.channel.

The channel: sensors survive loudness normalisation, headroom, fast convolution, hum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyloudnorm as pyln
from scipy import signal
from synth_cases import SMALL, SR

from mvlib.data.synth import channel, dsp
from mvlib.data.synth.channel import hum, synthesize_clip
from mvlib.data.synth.plan import SourceEvent, sensor_params


def _normalised_log_spectrum(cfg, sensor, sources, seed):
    params = sensor_params(cfg, sensor)
    y = synthesize_clip(cfg, params, sources, np.random.default_rng(seed))
    meter = pyln.Meter(cfg.sample_rate)
    y = pyln.normalize.loudness(y, meter.integrated_loudness(y), -24.0)
    _, p = signal.welch(y, fs=cfg.sample_rate, nperseg=1024)
    return 10 * np.log10(p + 1e-20)


def test_channel_differences_survive_loudness_normalisation():
    ev = [SourceEvent(7, "1", 0.2, 1.5, 6.0, "near")]
    diffs = {}
    for spread in (1.0, 0.45, 0.0):
        cfg = replace(SMALL, channel_spread=spread, duration_s=2.0)
        a = _normalised_log_spectrum(cfg, 0, ev, seed=1)
        b = _normalised_log_spectrum(cfg, 1, ev, seed=1)
        diffs[spread] = np.sqrt(np.mean((a - b)[5:-5] ** 2))  # dB, away from DC and Nyquist
    # same sources and noise draw: only the channel differs, and it scales with the spread
    assert diffs[1.0] > diffs[0.45] > 2.0, diffs
    assert diffs[0.0] < 1e-6, diffs  # identical channels: identical spectra


def test_synthesize_clip_shape_and_headroom():
    cfg = replace(SMALL, background_db=-3.0, source_snr_db=20.0)
    params = sensor_params(cfg, 0)
    ev = [SourceEvent(1, "3", 0.0, 1.0, 20.0, "near")]
    y = synthesize_clip(cfg, params, ev, np.random.default_rng(0))
    assert y.shape == (SR,) and np.max(np.abs(y)) <= 0.89 + 1e-12


def test_place_and_convolve_head_equal_full_fft_convolution():
    rng = np.random.default_rng(3)
    n = 2 * SR
    kernel = rng.standard_normal(int(0.25 * SR)) * np.exp(-np.arange(int(0.25 * SR)) / 400.0)
    sparse = dsp._impulse_train(rng.uniform(0, 2.0, 40), rng.uniform(0.5, 1.0, 40), n, SR)
    dense = rng.standard_normal(n)  # takes the FFT branch
    for x in (sparse, dense, np.zeros(n)):
        ref = signal.fftconvolve(x, kernel)[:n]
        np.testing.assert_allclose(dsp._place(x, kernel), ref, rtol=0, atol=1e-12)
    # a dry group that starts late and ends early, an IR longer than what is left of the clip
    dry = np.zeros(n)
    dry[SR // 2 : SR] = rng.standard_normal(SR // 2)
    h = rng.standard_normal(int(1.7 * SR)) * np.exp(-np.arange(int(1.7 * SR)) / 3000.0)
    ref = signal.fftconvolve(dry, h)[:n]
    np.testing.assert_allclose(channel._convolve_head(dry, h), ref, rtol=0, atol=1e-11)
    assert not channel._convolve_head(np.zeros(n), h).any()


def test_hum_one_period_tiled_equals_full_render():
    p = {"hum_hz": 60.0, "hum_decay": 0.6, "hum_db": -12.0}
    for sr, n in ((22050, 55125), (16000, 16001)):
        assert channel._tone_period(60.0, sr) in (735, 800)
        a = hum(p, n, sr, np.random.default_rng(4))
        rng = np.random.default_rng(4)
        k = np.arange(1, 8)
        k = k[k * 60.0 < 0.45 * sr]
        x = dsp._harmonics(dsp._phase(np.full(n, 60.0), sr, rng), 0.6 ** (k - 1))
        ref = x / (np.std(x) + 1e-12) * 10.0 ** (-12.0 / 20.0)
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-10)
    assert channel._tone_period(50.5, 22050) == np.inf
