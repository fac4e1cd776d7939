"""A trained run applied to anyone's audio: `mvlib embed`, mvlib.embed.audio and mvlib.embed.folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_run import N_MELS, make_run

from mvlib import cli
from mvlib.core.errors import MvlibError
from mvlib.data.paths import safe_member_name
from mvlib.embed import hear
from mvlib.embed.audio import AudioEmbedder, EmbedError
from mvlib.embed.folders import embed_audio_files, expand_inputs, output_names
from mvlib.frontend import dac_weights, preprocess
from mvlib.ml.runs import load_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("embed_run"))


def _noise(sr, seconds, channels=1, seed=0, level=0.1):
    rng = np.random.default_rng(seed)
    x = level * rng.normal(size=(int(sr * seconds), channels))
    return x.astype(np.float32)


@pytest.fixture()
def audio(tmp_path):
    d = tmp_path / "audio"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a_16k_mono.wav", _noise(16000, 3.0), 16000, subtype="PCM_16")
    sf.write(d / "sub" / "b_48k_stereo.wav", _noise(48000, 5.3, 2, seed=1), 48000, subtype="PCM_24")
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (d / "notes.txt").write_text("not audio, not listed from a folder")
    return d


def test_cli_folder_of_mixed_rates_channels_and_a_corrupt_file(run, audio, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(
        ["embed", str(audio), "--run", str(run), "--out", str(out), "--granularity", "both"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "corrupt.wav: unreadable, corrupt or not an audio file" in printed
    assert "1 input(s) skipped" in printed and "2 file(s) embedded" in printed
    assert "clip (16,)" in printed and "frames (" in printed
    man = json.loads((out / "manifest.json").read_text())
    by = {f["name"]: f for f in man["files"]}
    assert set(by) == {"a_16k_mono", "sub__b_48k_stereo"}
    a, b = by["a_16k_mono"]["info"], by["sub__b_48k_stereo"]["info"]
    assert (a["source_sample_rate"], a["source_channels"], a["downmixed"]) == (16000, 1, False)
    assert (b["source_sample_rate"], b["source_channels"], b["downmixed"]) == (48000, 2, True)
    assert a["resampled_to"] == b["resampled_to"] == 44100
    assert man["skipped"][0]["input"].endswith("corrupt.wav")
    assert man["frontend"]["frontend"] == "logmel" and man["subspace"] == "both"
    clip = np.load(out / "sub__b_48k_stereo.npy")
    frames = np.load(out / "sub__b_48k_stereo.frames.npy")
    times = np.load(out / "sub__b_48k_stereo.times.npy")
    assert clip.shape == (N_MELS,) and frames.shape == (len(times), N_MELS)
    assert np.allclose(clip, frames.mean(0), atol=1e-6)


def test_long_recording_is_cut_into_windows_with_increasing_times(run):
    emb = AudioEmbedder(run, window_s=2.0)
    rate, hop = emb.frontend.sample_rate, emb.frontend.hop
    out, info = emb.embed_wave(_noise(44100, 5.3)[:, 0], 44100)
    # 2 s windows rounded up to the hop (173 x 512 samples): 2 full windows and a ~1.3 s tail
    assert info["windows"] == 3 and emb.window == 173 * hop
    n = int(44100 * 5.3)
    assert out["frames"].shape[0] == 173 + 173 + -(-(n - 2 * emb.window) // hop)
    t = out["times"]
    assert t[0] == 0 and np.all(np.diff(t) > 0)
    assert np.allclose(np.diff(t), hop / rate)  # windows join without gap or overlap
    # a tail shorter than the 0.4 s loudness block joins the window before it
    assert emb.windows(np.zeros(emb.window + 1000)) == [(0, emb.window + 1000)]


def test_downmix_and_resampling(run):
    emb = AudioEmbedder(run)
    mono = _noise(22050, 2.5)[:, 0]
    one, _ = emb.embed_wave(mono, 22050)
    two, info = emb.embed_wave(np.stack([mono, mono]), 22050)  # identical channels
    assert info["downmixed"] and info["source_channels"] == 2
    assert np.allclose(one["frames"], two["frames"], atol=1e-6)
    # the same content at another rate gives the same number of frames (resampled first)
    sr48 = preprocess.resample(mono, 22050, 48000)
    other, info48 = emb.embed_wave(sr48, 48000)
    assert info48["resampled"] and other["frames"].shape == one["frames"].shape


def test_subspaces_and_clip_mean(run):
    wave = _noise(44100, 2.0)[:, 0]
    both = AudioEmbedder(run, "both").embed_wave(wave, 44100)[0]
    zp = AudioEmbedder(run, "z_p").embed_wave(wave, 44100)[0]
    zs = AudioEmbedder(run, "z_s").embed_wave(wave, 44100)[0]
    assert zp["frames"].shape[1] == zs["frames"].shape[1] == N_MELS // 2
    assert np.allclose(both["frames"], np.concatenate([zp["frames"], zs["frames"]], 1))
    assert np.allclose(both["clip"], both["frames"].mean(0), atol=1e-6)
    assert AudioEmbedder(run, "z_s").dim == N_MELS // 2
    with pytest.raises(MvlibError, match="subspace"):
        AudioEmbedder(run, "z_x")


def test_npz_table_and_python_function_agree(run, audio, tmp_path):
    out = tmp_path / "tab"
    rep = embed_audio_files([audio], run, out, granularity="both", fmt="npz", progress=False)
    tab = np.load(out / "embeddings.npz")
    assert [str(n) for n in tab["names"]] == ["a_16k_mono", "sub__b_48k_stereo"]
    assert tab["clip"].shape == (2, N_MELS)
    assert list(tab["source_sample_rate"]) == [16000, 48000]
    assert list(tab["source_channels"]) == [1, 2]
    assert tab["frames"].shape[0] == tab["frame_file"].shape[0] == tab["frame_time"].shape[0]
    for i in range(2):
        rows = tab["frame_file"] == i
        assert np.allclose(tab["clip"][i], tab["frames"][rows].mean(0), atol=1e-6)
    # the notebook function without an output folder returns the same arrays
    mem = embed_audio_files([audio], run, None, granularity="both", progress=False)
    assert np.allclose(np.stack([r.clip for r in mem.results]), tab["clip"])
    assert len(rep.failed) == len(mem.failed) == 1


def test_inputs_globs_missing_and_bad_files(run, audio, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(44100, np.float32), 44100)
    short = tmp_path / "short.wav"
    sf.write(short, _noise(44100, 0.2), 44100)
    files, missing = expand_inputs(
        [str(audio / "*.wav"), str(audio / "sub"), str(tmp_path / "nope.wav"), str(audio / "z*")]
    )
    assert [p.name for p, _ in files] == ["a_16k_mono.wav", "corrupt.wav", "b_48k_stereo.wav"]
    assert [m[1] for m in missing] == ["no such file or folder", "the pattern matched no file"]
    rep = embed_audio_files([silent, short, audio / "a_16k_mono.wav"], run, None, progress=False)
    reasons = dict(rep.failed)
    assert "silent" in reasons[str(silent)] and "too short" in reasons[str(short)]
    assert len(rep.results) == 1
    assert output_names(["a/b.wav", "a__b.flac", "c"]) == ["a__b", "a__b-2", "c"]


def test_quiet_window_is_embedded_as_it_is_and_listed(run):
    """One policy with the HEAR API: a window too quiet to measure gets no gain, is not dropped."""
    emb = AudioEmbedder(run, window_s=1.0)
    x = _noise(44100, 3.0)[:, 0]
    x[emb.window : 2 * emb.window] = 0.0  # second window silent: loudness undefined
    out, info = emb.embed_wave(x, 44100)
    assert info["windows"] == 3 and len(info["windows_unnormalised"]) == 1
    assert info["windows_unnormalised"][0]["start_s"] == pytest.approx(emb.window / 44100)
    assert info["gain_db"][1] is None and None not in (info["gain_db"][0], info["gain_db"][2])
    assert np.any((out["times"] > 1.05) & (out["times"] < 1.95))
    # what the HEAR API gives for the same sound: the same loop, the same policy
    z, _ = hear.get_timestamp_embeddings(torch.from_numpy(x)[None], hear.HearModel(emb))
    np.testing.assert_allclose(z[0].numpy(), out["frames"], atol=1e-5)


def test_output_folder_must_be_new_or_ours(run, audio, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(MvlibError, match="not made by `mvlib embed`"):
        embed_audio_files([audio], run, foreign, progress=False)
    assert (foreign / "thesis.tex").read_text() == "precious"
    out = tmp_path / "again"
    first = embed_audio_files([audio], run, out, progress=False)
    assert first.reused == 0 and len(first.files) == 2
    # a rerun into its own folder (e.g. after a kill) reuses what was completed
    (out / "a_16k_mono.done.json").unlink()  # as if killed before this file completed
    again = embed_audio_files([audio], run, out, progress=False)
    assert again.reused == 1 and len(again.files) == 2 and "reused" in again.summary()
    for a, b in zip(first.results, again.results):
        assert np.array_equal(a.clip, b.clip)
    # a changed source or other settings are embedded again
    sf.write(audio / "a_16k_mono.wav", _noise(16000, 2.0, seed=9), 16000)
    changed = embed_audio_files([audio], run, out, progress=False)
    assert changed.reused == 1 and not np.array_equal(
        changed.results[0].clip, first.results[0].clip
    )
    assert embed_audio_files([audio], run, out, subspace="z_s", progress=False).reused == 0


def _altered_run(run, tmp_path, name, **prov_identity):
    ckpt = load_checkpoint(run / "checkpoints" / "best.pt")
    ident = ckpt["provenance"]["feature_identity"]
    ident.update(prov_identity)
    if prov_identity.get("frontend") == "dac":
        ckpt["config"]["features"]["frontend"] = "dac"
    (tmp_path / name / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, tmp_path / name / "checkpoints" / "best.pt")
    return tmp_path / name


def test_run_whose_frontend_weights_are_missing_is_refused(run, tmp_path, monkeypatch):
    monkeypatch.delenv(dac_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(dac_weights, "DAC_CACHE_FILE", tmp_path / "no-weights.pth")
    monkeypatch.setattr(dac_weights, "_try_download", lambda *a, **k: None)
    dac_run = _altered_run(
        run, tmp_path, "dac", frontend="dac", weights="dac_44khz_8kbps_0.0.1", dim=1024
    )
    with pytest.raises(EmbedError) as e:
        AudioEmbedder(dac_run)
    line = e.value.line()
    assert "\n" not in line and "dac_44khz_8kbps_0.0.1" in line and "not on this machine" in line
    rc = cli.main(["embed", str(tmp_path), "--run", str(dac_run), "--out", str(tmp_path / "o")])
    assert rc == 2


def test_run_of_another_frontend_identity_is_refused(run, tmp_path):
    other = _altered_run(run, tmp_path, "other", weights_sha256="0123456789abcdef")
    with pytest.raises(EmbedError, match="is not the one the run was trained on"):
        AudioEmbedder(other)
    with pytest.raises(EmbedError, match="not a trained run"):
        AudioEmbedder(tmp_path)


@pytest.mark.slow
def test_dac_run_embeds_through_its_dac_frontend(tmp_path, monkeypatch):
    """The DAC path end to end: a run on (random-init, offline) DAC features embeds audio."""
    monkeypatch.setattr(dac_weights, "_try_download", lambda *a, **k: None)  # offline, no probe
    run = make_run(tmp_path, frontend="dac", **{"synth.duration_s": 1.0})
    emb = AudioEmbedder(run)
    assert emb.frontend.name == "dac" and emb.identity["frontend"]["dim"] == 1024
    wave = _noise(22050, 1.5, 2).T  # (C, N)
    out, info = emb.embed_wave(wave, 22050)
    hop, rate = emb.frontend.hop, emb.frontend.sample_rate
    assert info["windows"] == 2 and out["frames"].shape == (-(-int(1.5 * rate) // hop), 1024)
    assert out["times"][0] == pytest.approx(0.5 * hop / rate)  # DAC frame centres
    # values: the DAC encoder itself (pre-quantisation latent) and the run's encoder, per
    # window of the downmixed, resampled, loudness-normalised recording
    mono = preprocess.resample(wave.mean(axis=0, dtype=np.float64), 22050, rate)
    ref = np.concatenate(
        [
            _dac_then_encoder(emb, preprocess.preprocess(mono[a:b], rate, emb.cfg.features))
            for a, b in emb.windows(mono)
        ]
    )
    np.testing.assert_allclose(out["frames"], ref, atol=1e-4, rtol=1e-4)

    model = hear.HearModel(emb)  # the same run through the HEAR API (one DAC in memory)
    sounds = _noise(rate, 0.7, 2).T.copy()  # (2, N): two sounds, one window each
    e, t = hear.get_timestamp_embeddings(torch.from_numpy(sounds), model)
    assert e.shape[0] == 2 and e.shape[2] == 1024 and float(t.max()) <= 700.0
    for i in range(2):
        want = _dac_then_encoder(emb, preprocess.preprocess(sounds[i], rate, emb.cfg.features))
        np.testing.assert_allclose(e[i].numpy(), want[: e.shape[1]], atol=1e-4, rtol=1e-4)


def _dac_then_encoder(emb, x: np.ndarray) -> np.ndarray:
    """z_p ⊕ z_s ndarray[T x D] of one prepared signal x ndarray[N]: DAC's encoder, then the run's."""
    with torch.inference_mode():
        lat = emb.frontend.encoder(torch.from_numpy(x)[None, None]).transpose(1, 2)  # (1, T, D)
        z = emb.model.embed(lat)
    return torch.cat([z["z_p"][0], z["z_s"][0]], dim=-1).float().numpy()


def test_output_names_are_plain_names_inside_the_folder():
    hostile = ["../../x.wav", "..", "...", "a/../b.wav", "/abs/c.wav", "C:\\d\\e.wav", " .wav"]
    names = output_names(hostile)
    assert names == ["..__..__x", "audio", "audio-2", "a__..__b", "__abs__c", "C___d__e", "audio-3"]
    for n in names:  # one component: joined to a folder, it stays directly in it
        assert safe_member_name(n, "test") == n and "/" not in n and "\\" not in n
        assert n not in (".", "..")


def test_resume_record_naming_a_file_outside_the_folder_is_not_read(run, audio, tmp_path):
    out = tmp_path / "out"
    first = embed_audio_files([audio / "a_16k_mono.wav"], run, out, progress=False)
    man = json.loads((out / "manifest.json").read_text())
    for f in man["files"]:  # every output the manifest names lies directly in the folder
        for o in f["outputs"]:
            assert (out / o).resolve().parent == out.resolve()
    # a record rewritten to name a file beside the folder, with the length of the file's
    # own name, so that only its suffix looks right ("../evil_xx.npy" vs "a_16k_mono.npy")
    done = out / "a_16k_mono.done.json"
    meta = json.loads(done.read_text())
    meta["record"]["outputs"] = ["../evil_xx.npy"]
    done.write_text(json.dumps(meta))
    planted = np.full(N_MELS, 1e6, np.float32)
    np.save(tmp_path / "evil_xx.npy", planted)
    again = embed_audio_files([audio / "a_16k_mono.wav"], run, out, progress=False)
    assert again.reused == 0  # not trusted: embedded again
    assert np.array_equal(again.results[0].clip, first.results[0].clip)
    assert np.array_equal(np.load(tmp_path / "evil_xx.npy"), planted)  # untouched
    meta = json.loads(done.read_text())
    assert meta["record"]["outputs"] == ["a_16k_mono.npy"]  # rewritten with its own name
