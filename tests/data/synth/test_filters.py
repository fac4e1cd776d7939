"""Tests of mvlib.data.synth.filters: closed-form Butterworth SOS against scipy.signal.butter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from mvlib.data.synth import filters

RATES = (8000, 16000, 22050, 44100, 48000)


def _grid(sr, k=25):
    """Corners from 10 Hz (synth's lower clip) to just under Nyquist, log-spaced."""
    return np.geomspace(10.0, 0.499 * sr, k)


def _scipy(order, freq, kind, sr):
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("order", (1, 2))
@pytest.mark.parametrize("kind", ("lowpass", "highpass"))
def test_low_high_pass_equal_scipy(sr, order, kind):
    for f in _grid(sr):
        ours, ref = filters.butter_sos(order, f, kind, sr), _scipy(order, f, kind, sr)
        assert ours.shape == ref.shape == (1, 6), (f, ours.shape)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9, err_msg=f"{kind} {order} {f}")


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("order", (1, 2))
def test_bandpass_equals_scipy_sections_order_and_gain(sr, order):
    """Order 2: two sections, scipy's pairing (which double zero goes where, gain first)."""
    grid = _grid(sr, 18)
    for i, lo in enumerate(grid):
        for hi in [*grid[i + 1 :], lo * 1.001]:  # narrow bands too
            if hi >= 0.5 * sr:
                continue
            ours, ref = filters.butter_sos(order, (lo, hi), "bandpass", sr), _scipy(
                order, (lo, hi), "bandpass", sr
            )
            assert ours.shape == ref.shape == (order, 6), (lo, hi)
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9, err_msg=f"bp{order} {lo} {hi}")


def test_designs_synth_uses_equal_scipy():
    """The corners mvlib.data.synth actually asks for, at its sample rates."""
    cases = []
    for sr in (16000, 22050):
        cases += [(1, 5000.0, "lowpass"), (2, 40.0, "lowpass"), (2, 80.0, "lowpass")]
        cases += [(2, 2500.0, "highpass"), (2, 6000.0, "highpass"), (2, 480.0, "highpass")]
        cases += [(2, f, "lowpass") for f in (180.0, 300.0, 480.0)]  # engine rumble 4 * hi
        cases += [(2, f, "highpass") for f in (20.0, 80.0, 500.0)]  # mic low-cut
        cases += [(2, f, "lowpass") for f in (3000.0, 6500.0)]  # mic high-cut
        cases += [(2, (80.0, f), "bandpass") for f in (3000.0, 5500.0, 7600.0)]  # impacts
        cases += [(1, (f - b / 2, f + b / 2), "bandpass") for f, b in ((270, 90), (2290, 120))]
        cases += [(1, (20.0, 220.0), "bandpass"), (1, (2750.0, 3250.0), "bandpass")]
        for order, freq, kind in cases:
            np.testing.assert_allclose(
                filters.butter_sos(order, freq, kind, sr),
                _scipy(order, freq, kind, sr),
                rtol=0,
                atol=1e-9,
                err_msg=f"{order} {freq} {kind} {sr}",
            )


def test_response_is_butterworth():
    """Independent of scipy's design: -3 dB at the corner, flat pass band, zeros in place."""
    sr = 22050
    for order in (1, 2):
        sos = filters.butter_sos(order, 1000.0, "lowpass", sr)
        w, h = signal.sosfreqz(sos, worN=[0.0, 1000.0, sr / 2 - 1e-9], fs=sr)
        assert abs(h[0]) == pytest.approx(1.0) and abs(h[1]) == pytest.approx(2**-0.5)
        assert abs(h[2]) < 1e-6
        sos = filters.butter_sos(order, 1000.0, "highpass", sr)
        w, h = signal.sosfreqz(sos, worN=[0.0, 1000.0, sr / 2 - 1e-9], fs=sr)
        assert abs(h[0]) < 1e-12 and abs(h[1]) == pytest.approx(2**-0.5)
        assert abs(h[2]) == pytest.approx(1.0)
        sos = filters.butter_sos(order, (500.0, 2000.0), "bandpass", sr)
        # unit gain at the centre: the geometric mean of the *prewarped* edges
        wc = np.sqrt(np.tan(np.pi * 500.0 / sr) * np.tan(np.pi * 2000.0 / sr))
        w, h = signal.sosfreqz(sos, worN=[500.0, sr / np.pi * np.arctan(wc), 2000.0], fs=sr)
        np.testing.assert_allclose(np.abs(h), [2**-0.5, 1.0, 2**-0.5], rtol=1e-9)


def test_other_orders_fall_back_to_scipy_and_errors_match():
    for order, freq, kind in ((3, (300.0, 3500.0), "bandpass"), (4, 1000.0, "lowpass")):
        np.testing.assert_array_equal(
            filters.butter_sos(order, freq, kind, 22050), _scipy(order, freq, kind, 22050)
        )
    with pytest.raises(ValueError):
        filters.butter_sos(2, 12000.0, "lowpass", 22050)  # above Nyquist: scipy's error
    with pytest.raises(ValueError):
        filters.butter_sos(1, (500.0, 400.0), "bandpass", 22050)  # edges swapped


def test_cached_design_is_not_shared_with_callers():
    a = filters.butter_sos(2, 1234.0, "lowpass", 22050)
    ref = a.copy()
    a[:] = 0.0
    b = filters.butter_sos(2, 1234.0, "lowpass", 22050)
    np.testing.assert_array_equal(b, ref)
    assert b.flags.writeable  # scipy.signal.sosfilt needs a writeable array
    x = np.random.default_rng(0).standard_normal(512)
    np.testing.assert_allclose(signal.sosfilt(b, x), signal.sosfilt(ref, x), rtol=0, atol=0)
