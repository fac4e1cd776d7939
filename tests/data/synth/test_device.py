"""A sensor's recording device (mvlib.data.synth.device): the world parameters."""

import dataclasses

import numpy as np
import pytest
from scipy import signal

from mvlib.core.config import ConfigError, config_hash, read_profile
from mvlib.core.synth_config import WORLD_FIELDS, SynthConfig
from mvlib.data.synth import device
from mvlib.data.synth.channel import synthesize_clip
from mvlib.data.synth.plan import AUDIO, apply_drift, clip_plan, sensor_params, set_name, stream_rng

BASE = SynthConfig(n_sensors=4, clips_per_sensor=2, duration_s=1.0)


def _clip(cfg: SynthConfig, sensor: int = 1, clip: int = 0) -> np.ndarray:
    p = sensor_params(cfg, sensor)
    plan = clip_plan(cfg, sensor, clip, p)
    rng = stream_rng(cfg, AUDIO, sensor, clip)
    return synthesize_clip(cfg, apply_drift(p, plan["drift"]), plan["sources"], rng)


def test_todays_world_has_no_device_and_keeps_its_name():
    assert not device.has_device(BASE)
    assert not any(k.startswith(("comp_", "clip_db", "band_hz")) for k in sensor_params(BASE, 0))
    # a world field at 0 is left out of the hash: sets named before worlds existed keep names
    fields = {f.name for f in dataclasses.fields(SynthConfig)} - set(WORLD_FIELDS)
    legacy = {f: getattr(BASE, f) for f in fields}
    import hashlib
    import json

    blob = json.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in legacy.items()}, sort_keys=True
    )
    assert config_hash(BASE) == hashlib.sha256(blob.encode()).hexdigest()[:10]
    assert set_name(dataclasses.replace(BASE, clipping=0.5)) != set_name(BASE)


def test_a_strength_moves_no_other_draw_of_the_generator():
    # the device is drawn from its own stream: the linear channel and the plan are unchanged
    strong = dataclasses.replace(BASE, compression=1.0, noise_floor=1.0)
    a, b = sensor_params(BASE, 2), sensor_params(strong, 2)
    assert {k: b[k] for k in a} == a
    assert clip_plan(BASE, 2, 1, a) == clip_plan(strong, 2, 1, b)
    # a sensor's compressor does not change when only its clipping strength does
    c = sensor_params(dataclasses.replace(strong, clipping=0.3), 2)
    assert c["comp_ratio"] == b["comp_ratio"] and c["comp_time_s"] == b["comp_time_s"]


@pytest.mark.parametrize("field", WORLD_FIELDS)
def test_each_strength_changes_the_audio_and_zero_does_not(field):
    ref = _clip(BASE)
    assert np.array_equal(_clip(dataclasses.replace(BASE, **{field: 0.0})), ref)
    y = _clip(dataclasses.replace(BASE, **{field: 1.0}))
    assert y.shape == ref.shape and np.isfinite(y).all() and np.abs(y).max() < 1.0
    assert not np.allclose(y, ref)


def test_sensors_differ_in_their_device_and_strength_grades_it():
    weak, strong = (dataclasses.replace(BASE, compression=s, clipping=s) for s in (0.2, 1.0))
    ratios = [sensor_params(strong, s)["comp_ratio"] for s in range(4)]
    assert len(set(ratios)) == 4 and min(ratios) > 1.0
    for s in range(4):  # the same draw, scaled: stronger compresses and clips harder
        w, st = sensor_params(weak, s), sensor_params(strong, s)
        assert 1.0 < w["comp_ratio"] < st["comp_ratio"]
        assert st["clip_db"] < w["clip_db"]


def test_clipping_caps_the_signal_at_its_level_over_the_rms():
    p = {"comp_ratio": 1.0, "clip_db": 6.0, "band_hz": 0.0, "noise_floor_db": -200.0}
    x = np.random.default_rng(0).standard_normal(4000)
    y = device.record(x, p, 22050, np.random.default_rng(1))
    level = np.sqrt(np.mean(x**2)) * 10 ** (6 / 20)
    assert np.abs(y).max() == pytest.approx(level) and np.array_equal(
        y[np.abs(x) < level], x[np.abs(x) < level]
    )


def test_the_compressor_follows_its_static_curve():
    # a steady tone far above the threshold comes out at thr * (env/thr) ** (1/ratio)
    sr, ratio = 16000, 4.0
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * 440 * t)
    p = {"comp_ratio": ratio, "comp_threshold_db": -12.0, "comp_time_s": 0.02}
    y = device._compress(x, float(np.sqrt(np.mean(x**2))), p, sr)
    rms_in, thr = np.sqrt(0.5), np.sqrt(0.5) * 10 ** (-12 / 20)
    mid = slice(sr // 4, 3 * sr // 4)
    assert np.sqrt(np.mean(y[mid] ** 2)) == pytest.approx(
        thr * (rms_in / thr) ** (1 / ratio), rel=0.03
    )


def test_band_limiting_removes_what_lies_above_its_corner():
    sr = 22050
    p = {"comp_ratio": 1.0, "clip_db": 200.0, "band_hz": 2000.0, "noise_floor_db": -200.0}
    x = np.random.default_rng(0).standard_normal(sr)
    y = device.record(x, p, sr, np.random.default_rng(1))
    f, pxx = signal.welch(x, sr, nperseg=1024)
    _, pyy = signal.welch(y, sr, nperseg=1024)
    assert np.mean(pyy[f > 4000] / pxx[f > 4000]) < 1e-3
    assert np.mean(pyy[f < 1000] / pxx[f < 1000]) == pytest.approx(1.0, rel=0.1)


def test_noise_floor_and_self_noise_sit_at_their_levels():
    p = {"comp_ratio": 1.0, "clip_db": 200.0, "band_hz": 0.0, "noise_floor_db": -20.0}
    x = np.zeros(50000) + 1e-9
    x[::2] = 1.0  # RMS ~0.707
    y = device.record(x, p, 22050, np.random.default_rng(0))
    assert np.std(y - x) == pytest.approx(np.sqrt(np.mean(x**2)) * 0.1, rel=0.03)
    hiss = device.self_noise(
        {"self_noise_db": -6.0, "self_noise_tilt_db_oct": -3.0},
        22050,
        22050,
        np.random.default_rng(0),
    )
    assert np.std(hiss) == pytest.approx(10 ** (-6 / 20), rel=1e-6)


def test_a_strength_outside_0_1_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="clipping"):
        read_profile("ci", {"synth.clipping": 1.5})


def test_todays_profiles_keep_every_name_they_had_before_worlds_existed(tmp_path, monkeypatch):
    # names computed at commit dbc4d46 (before the world parameters): sets, runs, the
    # frontend-only baselines and the codec's training folder must not move, or every
    # cache and committed result of today's world would be orphaned
    from mvlib import load_config
    from mvlib.ml.codec.trainer import codec_dir
    from mvlib.sweep import frontend_dir, grid, run_dir_of

    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path))
    before = {
        "default": (
            "synth-v1-55a6b8b6b0",
            "multiview-rec-logmel-seed0-79f87479",
            "frontend-logmel-seed0-85012798",
        ),
        "codec": (
            "synth-v1-55a6b8b6b0",
            "multiview-rec-dac-seed0-78d042e0",
            "frontend-dac-seed0-5f72a247",
        ),
        "full": (
            "synth-v1-9bd29772c4",
            "multiview-rec-logmel-seed0-0897f0ea",
            "frontend-logmel-seed0-a928610b",
        ),
    }
    for prof, names in before.items():
        # (default.yml has four seeds since; with its three of then it is the same config)
        cfg = load_config(prof, {"sweep.seeds": [0, 1, 2]} if prof == "default" else None)
        now = (set_name(cfg.synth), run_dir_of(cfg, grid()[0], 0).name, frontend_dir(cfg, 0).name)
        assert now == names, prof
    assert codec_dir(load_config("codec")).name == "mvlib-codec-22khz-39bc17ad"
    # and a world is another name everywhere
    world = load_config("default", {"synth.noise_floor": 0.5})
    assert frontend_dir(world, 0).name != before["default"][2]
    assert run_dir_of(world, grid()[0], 0).name != before["default"][1]
