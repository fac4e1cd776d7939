"""Audio loading, preprocessing (paper 3.2) and the DAC / log-mel frontends."""

from __future__ import annotations

import warnings

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import torch

from mvlib.core.config import FeatureConfig
from mvlib.frontend.audio import BadAudioError, load_audio
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.logmel import LogMelFrontend
from mvlib.frontend.preprocess import n_frames, preprocess, preprocess_with_info

CFG = FeatureConfig(device="cpu")


def noise_and_tone(seconds: float, sr: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Test signal [C x N]: pink-ish noise plus a 1 kHz tone, peak well below 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * rng.standard_normal((channels, len(t))) + 0.1 * np.sin(2 * np.pi * 1000 * t)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def dac_frontend() -> DACFrontend:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DACFrontend(FeatureConfig(frontend="dac", device="cpu", dac_seed=0))


# --------------------------------------------------------------------------- loading


def test_load_audio_shape_and_rate(tmp_path):
    x = noise_and_tone(0.5, 16000, channels=2)
    sf.write(tmp_path / "s.wav", x.T, 16000, subtype="FLOAT")
    wave, sr = load_audio(tmp_path / "s.wav")
    assert sr == 16000 and wave.dtype == np.float32 and wave.shape == (2, 8000)
    np.testing.assert_array_equal(wave, x)


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("corrupt", "unreadable"),
        ("zero_bytes", "unreadable"),
        ("no_frames", "empty"),
        ("silent", "silent"),
        ("nan", "NaN"),
        ("three_channels", "3 channels"),
    ],
)
def test_load_audio_rejects_bad_files(tmp_path, kind, reason):
    p = tmp_path / f"{kind}.wav"
    sr = 22050
    if kind == "corrupt":
        p.write_bytes(b"RIFF\x00\x01not really a wave file" * 20)
    elif kind == "zero_bytes":
        p.write_bytes(b"")
    elif kind == "no_frames":
        sf.write(p, np.zeros((0, 1), np.float32), sr)
    elif kind == "silent":
        sf.write(p, np.zeros(sr, np.float32), sr)
    elif kind == "nan":
        x = noise_and_tone(1.0, sr)[0]
        x[100] = np.nan
        sf.write(p, x, sr, subtype="FLOAT")
    else:
        sf.write(p, noise_and_tone(1.0, sr, channels=3).T, sr)
    with pytest.raises(BadAudioError, match=reason) as info:
        load_audio(p)
    assert info.value.path == str(p) and str(p) in str(info.value)


# --------------------------------------------------------------------------- preprocessing


def test_n_frames_hand_cases():
    assert [n_frames(n) for n in (0, 1, 511, 512, 513, 1024)] == [0, 1, 1, 1, 2, 2]
    assert n_frames(441000) == 862  # paper 3.2: a 10 s clip at 44.1 kHz gives 862 frames
    assert n_frames(44100) == 87


@pytest.mark.parametrize("sr", [22050, 48000, 44100])
def test_preprocess_resamples_normalises_and_pads(sr):
    wave = noise_and_tone(1.5, sr, channels=2)
    x, info = preprocess_with_info(wave, sr, CFG)
    n = info["samples"]
    assert x.dtype == np.float32 and x.ndim == 1
    assert n == round(wave.shape[1] * 44100 / sr)  # resampling keeps the duration
    assert len(x) == n_frames(n) * 512 and len(x) % 512 == 0
    assert not x[n:].any()  # right padding is zeros, like dac's model.preprocess
    # BS.1770 loudness of the normalised clip, measured independently
    lufs = pyloudnorm.Meter(44100).integrated_loudness(x[:n].astype(np.float64))
    assert abs(lufs - (-24.0)) < 0.5
    assert info["peak_limited"] is False and info["loudness_out"] == pytest.approx(-24.0)
    # the 1 kHz tone stays at 1 kHz after resampling
    spec = np.abs(np.fft.rfft(x[:n]))
    assert abs(np.argmax(spec) * 44100 / n - 1000.0) < 2.0


def test_preprocess_downmixes_to_mono():
    left = noise_and_tone(1.0, 44100, seed=1)[0]
    wave = np.stack([left, -left])  # opposite channels cancel: the mix is silent
    with pytest.raises(BadAudioError, match="too quiet"):
        preprocess(wave, 44100, CFG)
    wave = np.stack([left, left])
    np.testing.assert_allclose(preprocess(wave, 44100, CFG), preprocess(left, 44100, CFG))


def test_preprocess_peak_guard():
    # a quiet clip with one full-scale click: +gain to -24 LUFS would clip it
    x = 0.001 * noise_and_tone(2.0, 44100)[0]
    x[1000] = 0.9
    y, info = preprocess_with_info(x, 44100, CFG)
    assert info["peak_limited"] is True
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-6)
    assert info["loudness_out"] < -24.0
    lufs = pyloudnorm.Meter(44100).integrated_loudness(y[: info["samples"]].astype(np.float64))
    assert lufs == pytest.approx(info["loudness_out"], abs=0.05)


def test_preprocess_rejects_clip_shorter_than_loudness_block():
    with pytest.raises(BadAudioError, match="too short"):
        preprocess(noise_and_tone(0.3, 44100), 44100, CFG, path="short.wav")


def test_loudness_target_is_a_parameter():
    cfg = FeatureConfig(loudness_lufs=-16.0)
    x, info = preprocess_with_info(noise_and_tone(1.0, 44100), 44100, cfg)
    lufs = pyloudnorm.Meter(44100).integrated_loudness(x[: info["samples"]].astype(np.float64))
    assert abs(lufs + 16.0) < 0.5


# --------------------------------------------------------------------------- frontends


def test_logmel_frames_and_center_trim():
    fe = LogMelFrontend(CFG)
    x = torch.from_numpy(preprocess(noise_and_tone(1.0, 44100), 44100, CFG))[None, None]
    z = fe(x)
    n = x.shape[-1]
    assert z.shape == (1, n_frames(n), 128) and z.dtype == torch.float32
    # center=True gives N/hop + 1 frames for N a multiple of the hop; we keep the first N/hop
    raw = fe.mel(x[:, 0])
    assert raw.shape[-1] == n // 512 + 1
    torch.testing.assert_close(z[0], torch.log(raw[0, :, : n // 512] + 1e-6).T)
    # an unpadded clip is padded first: same frame count as DAC, ceil(N / 512)
    assert fe(x[..., :-100]).shape[1] == n_frames(n - 100)


def test_logmel_tone_lands_in_its_mel_band():
    fe = LogMelFrontend(CFG)
    t = np.arange(44100 * 1) / 44100
    x = torch.tensor(0.3 * np.sin(2 * np.pi * 2000 * t), dtype=torch.float32)[None, None]
    z = fe(x)[0, 5:-5]  # (T, n_mels), away from the edges
    # HTK mel centres of the 128 bands between 0 and 22050 Hz
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = 700 * (10 ** (np.linspace(mel(0), mel(22050), 130)[1:-1] / 2595) - 1)
    assert (z.argmax(dim=1).numpy() == np.argmin(np.abs(centres - 2000))).all()


def test_dac_frontend_matches_encoder(dac_frontend):
    fe = dac_frontend
    assert fe.name == "dac" and fe.dim == 1024 and fe.hop == 512 and fe.sample_rate == 44100
    x = torch.from_numpy(preprocess(noise_and_tone(0.5, 22050), 22050, CFG))[None, None]
    z = fe(x)
    assert z.shape == (1, 44, 1024)  # ceil(22050 / 512)
    with torch.inference_mode():
        ref = fe.encoder(x).transpose(1, 2)  # pre-quantization latent, (B, T, D)
    torch.testing.assert_close(z, ref)
    # same frame count as the log-mel frontend for the same clip
    assert LogMelFrontend(CFG)(x).shape[1] == z.shape[1]
    # an unpadded length is padded like model.preprocess
    assert fe(x[..., :-300]).shape[1] == n_frames(x.shape[-1] - 300)


def test_dac_identity_and_tag(dac_frontend):
    ident = dac_frontend.identity
    assert ident["frontend"] == "dac" and ident["weights"] == "random-init-seed-0"
    assert len(ident["weights_sha256"]) == 16 and ident["loudness_lufs"] == -24.0
    assert dac_frontend.tag == "dac-44khz-8kbps-random-init-seed0-sr44100-lufs-24"
    assert LogMelFrontend(CFG).tag == "logmel128-sr44100-hop512-lufs-24"
    assert not any(p.requires_grad for p in dac_frontend.encoder.parameters())
    assert not dac_frontend.encoder.training


@pytest.mark.slow
def test_logmel_on_the_ci_profile_beats_chance_by_a_wide_margin(tmp_path, monkeypatch):
    """Issue: the embedded default's frontend must carry both factors (held-out sensors).

    CI profile: 4 held-out sensors × 12 clips of 2 s, the cross-validated logistic
    regression of chapter 2 (mvlib.evaluate.probe.linear_cv) on time-pooled (mean, std)
    log-mel. Each task's 95% interval (sensors resampled as clusters) must lie above
    chance: sensor balanced accuracy (chance 0.25) and source macro balanced accuracy with
    folds grouped by sensor (chance 0.5). Measured: 0.60 [0.43, 0.77] and 0.65 [0.58, 0.74].
    """
    from mvlib import workflow
    from mvlib.core import config
    from mvlib.evaluate.probe.linear_cv import score_stores

    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path))
    cfg = config.read_profile("ci")
    assert cfg.features.frontend == "logmel"
    prep = workflow.prepare(cfg, progress=False)
    held = prep.clips[prep.clips.sensor_id.isin(prep.splits.sensors["heldout"])]
    res = score_stores({"logmel": prep.store}, held).loc["logmel"]
    assert res["sensor low"] > res["sensor chance"]
    assert res["source low"] > res["source chance"]


def test_wav_cut_short_is_refused_not_half_read(tmp_path):
    # issue 15: libsndfile silently reads the frames that are there; mvlib refuses the clip
    import soundfile as sf

    from mvlib.frontend.audio import BadAudioError, load_audio, wav_truncation

    path = tmp_path / "cut.wav"
    y = (0.1 * np.sin(np.arange(16000) / 5.0)).astype(np.float32)
    sf.write(path, y, 16000, subtype="PCM_16")
    assert wav_truncation(path) is None and load_audio(path)[0].shape == (1, 16000)
    blob = path.read_bytes()
    path.write_bytes(blob[:1044])  # header + 500 of 16000 frames
    assert wav_truncation(path) == (32000, 1000)
    with pytest.raises(BadAudioError, match="truncated: the WAV header promises 32000 bytes"):
        load_audio(path)
    with pytest.raises(BadAudioError, match="truncated"):
        load_audio(path, data=path.read_bytes())
    assert path.read_bytes() == blob[:1044]  # only read


def test_preprocess_batch_equals_one_by_one_and_rejects_per_clip():
    from mvlib.frontend.preprocess import preprocess_batch

    waves = [noise_and_tone(1.0, 48000, seed=s)[0] for s in range(3)]
    waves[1] = 1e-7 * waves[1]  # below the -70 LUFS gate: rejected, the others kept
    x, infos = preprocess_batch(torch.from_numpy(np.stack(waves)), 48000, CFG)
    assert x.shape == (3, n_frames(44100) * 512) and x.dtype == torch.float32
    assert isinstance(infos[1], str) and "too quiet" in infos[1] and not x[1].any()
    for i in (0, 2):
        one, info = preprocess_with_info(waves[i], 48000, CFG)
        torch.testing.assert_close(x[i], torch.from_numpy(one), rtol=1e-5, atol=1e-6)
        assert infos[i] == info and info["loudness_out"] == pytest.approx(-24.0)
        lufs = pyloudnorm.Meter(44100).integrated_loudness(
            one[: info["samples"]].astype(np.float64)
        )
        assert abs(lufs + 24.0) < 0.1
    _, short = preprocess_batch(torch.zeros(2, 1000), 44100, CFG)
    assert all("too short" in s for s in short)
