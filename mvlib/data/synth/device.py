"""A sensor's recording device: the nonlinear and noisy part of its channel (the *world*).

The linear channel (:mod:`.channel`) makes sensors differ by colouring: equalisation, room,
background, hum. Real sensors also differ by what their electronics do, and a frontend
may see those differences more or less well than the linear ones. Five graded *world
parameters* of :class:`mvlib.core.synth_config.SynthConfig` add them, each a strength in
[0, 1] (0: absent, the linear channel's audio bit for bit; 1: strong), each drawn per sensor from
its own random stream (``stream_rng(cfg, SENSOR, sensor, 2)``), so that no other draw of
the generator moves when a strength changes:

========================  ===============================================================
``self_noise``            microphone self-noise: coloured hiss added before the microphone
                          response, per-sensor level -20 + strength x (10..30) dB re. the
                          background and its own spectral tilt
``compression``           the device's automatic gain control: a feed-forward compressor
                          on a smoothed RMS envelope, per-sensor ratio 1 + strength x
                          (1..8), threshold strength x (3..15) dB below the clip's RMS,
                          time constant 5..50 ms
``clipping``              a converter driven too hot: hard clipping at a per-sensor level
                          20 - strength x (8..17) dB above the clip's RMS
``band_limit``            a narrow-band converter: an 8th-order Butterworth low-pass at a
                          per-sensor corner 10 kHz x 2 ** -(strength x (0.5..3))
``noise_floor``           the converter's noise floor: white noise at per-sensor level
                          -40 + strength x (10..30) dB re. the clip's RMS
========================  ===============================================================

They act in that order, after the room and before the clip's gain and headroom
(:func:`mvlib.data.synth.channel.synthesize_clip`): hiss, microphone, hum, compressor,
clipper, anti-alias filter, converter noise. :func:`device_params` draws a sensor's device;
:func:`record` applies it (and :func:`self_noise` the hiss).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from mvlib.core.synth_config import WORLD_FIELDS, SynthConfig

__all__ = ["device_params", "has_device", "record", "self_noise"]


def has_device(cfg: SynthConfig) -> bool:
    """Does ``cfg``'s world add anything to today's linear channel?"""
    return any(float(getattr(cfg, f)) > 0.0 for f in WORLD_FIELDS)


def device_params(cfg: SynthConfig, rng: np.random.Generator) -> dict[str, float]:
    """One sensor's device (flat dict of scalars; empty when every strength is 0).

    ``rng`` is the sensor's device stream; every draw is made whatever the strengths, so
    that a sensor's compressor does not change when its clipping strength does.
    """
    if not has_device(cfg):
        return {}
    u = rng.uniform(0.0, 1.0, 8)
    p: dict[str, float] = {}
    s = float(cfg.self_noise)
    p["self_noise_db"] = -20.0 + s * (10.0 + 20.0 * u[0]) if s > 0 else -200.0
    p["self_noise_tilt_db_oct"] = -3.0 + 6.0 * u[1]
    c = float(cfg.compression)
    p["comp_ratio"] = 1.0 + c * (1.0 + 7.0 * u[2])
    p["comp_threshold_db"] = -c * (3.0 + 12.0 * u[3])
    p["comp_time_s"] = 0.005 * 10.0 ** u[4]
    k = float(cfg.clipping)
    p["clip_db"] = 20.0 - k * (8.0 + 9.0 * u[5]) if k > 0 else 200.0
    b = float(cfg.band_limit)
    p["band_hz"] = 10000.0 * 2.0 ** (-b * (0.5 + 2.5 * u[6])) if b > 0 else 0.0
    f = float(cfg.noise_floor)
    p["noise_floor_db"] = -40.0 + f * (10.0 + 20.0 * u[7]) if f > 0 else -200.0
    return p


def self_noise(p: dict, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Microphone self-noise at RMS ``10 ** (self_noise_db / 20)`` (re. 1): Array[n].

    White noise tilted by ``self_noise_tilt_db_oct`` per octave re. 1 kHz.
    """
    f = np.fft.rfftfreq(n, 1.0 / sr)
    tilt = 10.0 ** (p["self_noise_tilt_db_oct"] * np.log2(np.maximum(f, 20.0) / 1000.0) / 20.0)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * tilt, n)
    return x / (np.std(x) + 1e-12) * 10.0 ** (p["self_noise_db"] / 20.0)


def record(y: np.ndarray, p: dict, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The device after the microphone: compressor, clipper, anti-alias filter, noise.

    Parameters
    ----------
    y : Array[N]
        The microphone's output (with hum).
    p : dict
        The clip's channel with the sensor's :func:`device_params` (without them: ``y``
        unchanged).
    sr : int
        Sample rate.
    rng : numpy.random.Generator
        The clip's audio stream (the converter noise).

    Returns
    -------
    Array[N]
    """
    if "comp_ratio" not in p:  # every strength 0: no device
        return y
    rms = float(np.sqrt(np.mean(y**2))) + 1e-12
    if p["comp_ratio"] > 1.0:
        y = _compress(y, rms, p, sr)
    if p["clip_db"] < 100.0:
        level = rms * 10.0 ** (p["clip_db"] / 20.0)
        y = np.clip(y, -level, level)
    if p["band_hz"] > 0.0 and p["band_hz"] < 0.45 * sr:
        y = signal.sosfilt(signal.butter(8, p["band_hz"], "lowpass", fs=sr, output="sos"), y)
    if p["noise_floor_db"] > -100.0:
        y = y + rng.standard_normal(len(y)) * rms * 10.0 ** (p["noise_floor_db"] / 20.0)
    return y


def _compress(y: np.ndarray, rms: float, p: dict, sr: int) -> np.ndarray:
    """Feed-forward compression: gain ``(env / thr) ** (1 / ratio - 1)`` above ``thr``.

    ``env`` is the RMS envelope (one-pole smoothing of ``y**2`` with time constant
    ``comp_time_s``, forward then backward: no delay); ``thr`` sits ``comp_threshold_db``
    re. the clip's RMS.
    """
    a = float(np.exp(-1.0 / (p["comp_time_s"] * sr)))
    power = signal.filtfilt([1.0 - a], [1.0, -a], y**2, padlen=0)
    env = np.sqrt(np.maximum(power, 1e-20))
    thr = rms * 10.0 ** (p["comp_threshold_db"] / 20.0)
    gain = np.where(env > thr, (np.maximum(env, 1e-20) / thr) ** (1.0 / p["comp_ratio"] - 1.0), 1.0)
    return y * gain
