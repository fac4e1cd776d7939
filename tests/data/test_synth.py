"""Tests of mvlib.data.synth: the synthetic SONYC-format urban sensor network."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pyloudnorm as pyln
import pytest
import soundfile as sf
from scipy import signal

from mvlib.core.config import SynthConfig, config_hash
from mvlib.data import synth, taxonomy

SR = 16000
SMALL = SynthConfig(n_sensors=6, clips_per_sensor=4, duration_s=1.0, sample_rate=SR, seed=3)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synth.generate(SMALL, tmp_path_factory.mktemp("synth") / "a", progress=False)


def _files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ann(root):
    return pd.read_csv(
        root / "annotations.csv",
        dtype={c: str for c in taxonomy.annotation_columns() if c.endswith("_proximity")},
    )


# --------------------------------------------------------------------------- format


def test_dataset_name_is_versioned_config_hash():
    assert synth.dataset_name(SMALL) == f"synth-v1-{config_hash(SMALL)}"
    assert synth.dataset_name(SMALL) != synth.dataset_name(replace(SMALL, seed=4))


def test_annotation_columns_and_wavs(small):
    ann = _ann(small)
    assert tuple(ann.columns) == taxonomy.annotation_columns()
    names = sorted(set(ann["audio_filename"]))
    assert len(names) == SMALL.n_sensors * SMALL.clips_per_sensor
    assert names[0] == "00_000000.wav"
    info = sf.info(str(small / "audio" / names[-1]))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert info.frames == int(SMALL.duration_s * SR)
    stamp = json.loads((small / "synth.json").read_text())
    assert stamp["complete"] is True and stamp["config"]["seed"] == SMALL.seed
    presence = [c for c in ann.columns if c.endswith("_presence")]
    assert set(np.unique(ann[presence].to_numpy())) <= {-1, 0, 1}
    prox = [c for c in ann.columns if c.endswith("_proximity")]
    assert set(np.unique(ann[prox].to_numpy())) <= set(taxonomy.PROXIMITY_VALUES)
    assert ann["day"].between(0, 6).all() and ann["hour"].between(0, 23).all()
    assert ann["borough"].between(1, 5).all()


def test_sensors_have_one_split_each(small):
    ann = _ann(small)
    assert (ann.groupby("sensor_id")["split"].nunique() == 1).all()
    per_split = ann.groupby("split")["sensor_id"].nunique()
    assert set(per_split.index) == set(taxonomy.SPLITS)
    splits = synth.sensor_splits(replace(SMALL, n_sensors=20))
    counts = pd.Series(splits).value_counts()
    assert (counts["train"], counts["validate"], counts["test"]) == (12, 4, 4)


def test_annotator_rows_follow_sonyc_semantics(small):
    ann = _ann(small)
    for (split, name), rows in ann.groupby(["split", "audio_filename"]):
        ids = rows["annotator_id"].to_numpy()
        vol = ids[ids > 0]
        assert len(vol) == SMALL.n_volunteers and len(set(vol)) == len(vol), name
        assert ((ids == 0).sum() == 1) == (split != "train"), name
        assert (ids < 0).sum() == 0 or split == "train", name


def test_verified_rows_equal_truth(small):
    ann, truth = _ann(small), synth.load_truth(small)["clips"].set_index("audio_filename")
    ver = ann[ann["annotator_id"] == 0].set_index("audio_filename")
    assert len(ver) == (truth["split"] != "train").sum() > 0
    fine_cols = synth._fine_cols()
    for name, row in ver.iterrows():
        t = truth.loc[name]
        for c, col in enumerate(taxonomy.coarse_label_columns(), start=1):
            assert row[f"{col}_presence"] == t[col], (name, col)
            for f, (pc, xc) in fine_cols[c].items():
                hit = bool(t[col]) and f == t[f"{col}_fine"]
                assert row[pc] == int(hit), (name, pc)
                assert row[xc] == (t[f"{col}_proximity"] if hit else "-1"), (name, xc)


def test_fine_columns_consistent_with_coarse(small):
    ann = _ann(small)
    for c, cols in synth._fine_cols().items():
        coarse = ann[taxonomy.coarse_presence_columns()[c - 1]].to_numpy()
        fine = ann[[p for p, _ in cols.values()]].to_numpy()
        prox = ann[[x for _, x in cols.values()]].to_numpy()
        assert np.array_equal(fine.max(axis=1), coarse)  # -1 group: all -1
        assert np.array_equal(fine.min(axis=1) == -1, coarse == -1)
        assert np.array_equal(prox != "-1", fine == 1)


def test_volunteer_noise_rates_match_config():
    cfg = replace(
        SMALL, n_sensors=1, volunteer_miss=0.2, volunteer_false_alarm=0.05, n_volunteers=3
    )
    params = synth.sensor_params(cfg, 0)
    hits = {"tp": 0, "fn": 0, "fp": 0, "tn": 0, "unl": 0}
    for k in range(1500):
        sources = synth.clip_plan(cfg, 0, k, params)["sources"]
        truth = {ev.coarse for ev in sources}
        for row in synth.clip_annotations(cfg, 0, k, "train", {}, sources):
            if row["annotator_id"] <= 0:
                continue
            for c, col in enumerate(taxonomy.coarse_presence_columns(), start=1):
                v = row[col]
                key = (
                    "unl"
                    if v == -1
                    else ("tp" if v else "fn") if c in truth else ("fp" if v else "tn")
                )
                hits[key] += 1
    miss = hits["fn"] / (hits["tp"] + hits["fn"])
    fa = hits["fp"] / (hits["fp"] + hits["tn"])
    unl = hits["unl"] / sum(hits.values())
    assert abs(miss - 0.2) < 0.02, hits
    assert abs(fa - 0.05) < 0.01, hits
    assert abs(unl - synth.P_UNLABELLED_VOLUNTEER) < 0.005, hits


# --------------------------------------------------------------------------- determinism, resume


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = synth.generate(SMALL, tmp_path / "b", progress=False)
    a, b = _files(small), _files(again)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    other = synth.generate(replace(SMALL, seed=4), tmp_path / "c", progress=False)
    c = _files(other)
    wavs = [k for k in a if k.endswith(".wav")]
    assert all(a[k] != c[k] for k in wavs)
    assert a["annotations.csv"] != c["annotations.csv"]


def test_clip_independent_of_generation_order():
    params = synth.sensor_params(SMALL, 2)
    plan = synth.clip_plan(SMALL, 2, 3, params)
    assert plan == synth.clip_plan(SMALL, 2, 3, synth.sensor_params(SMALL, 2))
    y1 = synth.synthesize_clip(
        SMALL, synth.apply_drift(params, plan["drift"]), plan["sources"], synth._rng(SMALL, 2, 2, 3)
    )
    synth.clip_plan(SMALL, 5, 0, synth.sensor_params(SMALL, 5))  # unrelated draws in between
    y2 = synth.synthesize_clip(
        SMALL, synth.apply_drift(params, plan["drift"]), plan["sources"], synth._rng(SMALL, 2, 2, 3)
    )
    assert np.array_equal(y1, y2)


def test_resume_rewrites_only_what_is_missing(tmp_path):
    root = synth.generate(SMALL, tmp_path / "r", progress=False)
    before = _files(root)
    wavs = sorted((root / "audio").glob("*.wav"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in wavs}
    stamp_mtime = (root / "synth.json").stat().st_mtime_ns
    assert synth.generate(SMALL, root, progress=False) == root  # complete: returns at once
    assert (root / "synth.json").stat().st_mtime_ns == stamp_mtime
    victim = wavs[5]
    victim.unlink()
    (root / "annotations.csv").unlink()
    wavs[7].write_bytes(b"RIFF garbage")  # a corrupt file is rewritten too
    # a finished set changed since is the user's: refused unless repair is asked for
    with pytest.raises(synth.DatasetFolderError, match="changed since mvlib generated it"):
        synth.generate(SMALL, root, progress=False)
    stamp = json.loads((root / "synth.json").read_text())
    (root / "synth.json").write_text(json.dumps({**stamp, "complete": False}))  # interrupted
    synth.generate(SMALL, root, progress=False)
    after = _files(root)
    assert after == before
    for p in wavs:
        if p.name not in (victim.name, wavs[7].name):
            assert p.stat().st_mtime_ns == mtimes[p.name], p.name
    with pytest.raises(synth.DatasetFolderError, match="synthetic set of other settings"):
        synth.generate(replace(SMALL, seed=9), root, progress=False)


def test_bad_config_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="max_sources"):
        synth.generate(replace(SMALL, max_sources=9), tmp_path, progress=False)


def test_load_truth_tables(small):
    t = synth.load_truth(small)
    s, c = t["sensors"], t["clips"]
    assert len(s) == SMALL.n_sensors and len(c) == SMALL.n_sensors * SMALL.clips_per_sensor
    for col in (
        "sensor_id",
        "lowcut_hz",
        "rt60_s",
        "hum_hz",
        "hum_db",
        "noise_tilt_db_oct",
        "eq0_gain_db",
    ):
        assert col in s.columns, col
    assert set(taxonomy.coarse_label_columns()) <= set(c.columns)
    assert set(synth.DRIFT_KEYS) <= set(c.columns)
    labels = c[list(taxonomy.coarse_label_columns())].to_numpy()
    assert set(np.unique(labels)) <= {0, 1}
    snr = c["1_engine_snr_db"].to_numpy()
    assert np.array_equal(np.isnan(snr), c["1_engine"].to_numpy() == 0)
    with pytest.raises(FileNotFoundError, match="truth.json"):
        synth.load_truth(small / "audio")


# --------------------------------------------------------------------------- physics


def _band_fraction(x, lo, hi, sr=SR):
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return p[(f >= lo) & (f < hi)].sum() / p.sum()


@pytest.mark.parametrize("coarse", range(1, 9))
def test_every_fine_class_renders_unit_rms(coarse):
    for fine in synth.fine_codes(coarse):
        x = synth.render_source(coarse, fine, SR, SR, np.random.default_rng(0))
        assert x.shape == (SR,) and np.isfinite(x).all()
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fine class"):
        synth.render_source(coarse, "Z", SR, SR, np.random.default_rng(0))


def test_engine_is_low_saw_is_high():
    rng = np.random.default_rng(1)
    for fine in synth.fine_codes(1):
        x = synth.render_source(1, fine, 2 * SR, SR, rng)
        assert _band_fraction(x, 0, 500) > 0.8, fine
        assert _band_fraction(x, 2000, SR / 2) < 0.01, fine
    for fine in synth.fine_codes(4):
        x = synth.render_source(4, fine, 2 * SR, SR, rng)
        assert _band_fraction(x, 0, 500) < 0.02, fine
        assert _band_fraction(x, 2000, SR / 2) > 0.45, fine


def _peak_track(x, sr=SR):
    f, _, z = signal.stft(x, fs=sr, nperseg=1024)
    mag = np.abs(z)
    loud = mag.max(axis=0) > 0.1 * mag.max()
    return f[mag.argmax(axis=0)][loud]


def test_siren_sweeps_beeper_holds_its_pitch():
    sweeps = [
        np.ptp(_peak_track(synth.render_source(5, "3", 3 * SR, SR, np.random.default_rng(s))))
        for s in range(4)
    ]
    steady = [
        np.ptp(_peak_track(synth.render_source(5, "4", 3 * SR, SR, np.random.default_rng(s))))
        for s in range(4)
    ]
    assert min(sweeps) > 400.0, sweeps  # sweeps span 600-1000 Hz
    assert max(steady) < 50.0, steady


def test_jackhammer_pulses_at_its_rate():
    x = synth.render_source(2, "2", 4 * SR, SR, np.random.default_rng(2))
    env = signal.decimate(np.abs(x), 16)  # 1 kHz envelope
    spec = np.abs(np.fft.rfft(env - env.mean()))
    f = np.fft.rfftfreq(len(env), 16 / SR)
    peak = f[np.argmax(spec * (f > 2.0))]
    assert 12.0 <= peak <= 25.0, peak  # jackhammer blows per second


def test_dog_barks_are_short_bursts():
    x = synth.render_source(8, "1", 4 * SR, SR, np.random.default_rng(5))
    frames = np.sqrt(np.mean(x[: len(x) // 160 * 160].reshape(-1, 160) ** 2, axis=1))  # 10 ms
    assert (frames > 0.1 * frames.max()).mean() < 0.5  # mostly silence between barks


def _normalised_log_spectrum(cfg, sensor, sources, seed):
    params = synth.sensor_params(cfg, sensor)
    y = synth.synthesize_clip(cfg, params, sources, np.random.default_rng(seed))
    meter = pyln.Meter(cfg.sample_rate)
    y = pyln.normalize.loudness(y, meter.integrated_loudness(y), -24.0)
    _, p = signal.welch(y, fs=cfg.sample_rate, nperseg=1024)
    return 10 * np.log10(p + 1e-20)


def test_channel_differences_survive_loudness_normalisation():
    ev = [synth.SourceEvent(7, "1", 0.2, 1.5, 6.0, "near")]
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
    params = synth.sensor_params(cfg, 0)
    ev = [synth.SourceEvent(1, "3", 0.0, 1.0, 20.0, "near")]
    y = synth.synthesize_clip(cfg, params, ev, np.random.default_rng(0))
    assert y.shape == (SR,) and np.max(np.abs(y)) <= 0.89 + 1e-12


def test_data_loader_reads_truth_for_verified_splits(small):
    from mvlib.data import sonyc

    clips = sonyc.load_clips(small).set_index("audio_filename")
    truth = synth.load_truth(small)["clips"].set_index("audio_filename")
    assert set(clips.index) == set(truth.index)
    cols = list(taxonomy.coarse_label_columns())
    held = truth.index[truth["split"] != "train"]
    assert np.array_equal(clips.loc[held, cols].to_numpy(), truth.loc[held, cols].to_numpy())
    assert (clips.loc[truth.index, "split"] == truth["split"]).all()
    # train labels: any volunteer's 1, so a superset of the truth unless all missed
    train = truth.index[truth["split"] == "train"]
    agree = (clips.loc[train, cols].to_numpy() == truth.loc[train, cols].to_numpy()).mean()
    assert agree > 0.8, agree


def test_label_agreement_is_perfect_for_verified_rows(tmp_path):
    from mvlib.core.config import SynthConfig
    from mvlib.data import sonyc, synth

    cfg = SynthConfig(n_sensors=6, clips_per_sensor=6, duration_s=0.5, sample_rate=8000)
    root = synth.generate(cfg, tmp_path / "ds", progress=False)
    table = synth.label_agreement(sonyc.load_clips(root), synth.load_truth(root))
    assert table.loc["verified", "agreement"] == 1.0
    assert table.loc["verified", "missed (of true sources)"] == 0.0
    # volunteers miss some sources (miss rate 0.15 each, union of 3 volunteers)
    assert 0.0 <= table.loc["volunteers", "missed (of true sources)"] < 0.2


def test_parallel_generation_writes_identical_files(tmp_path):
    from mvlib.core.config import SynthConfig
    from mvlib.data import synth

    cfg = SynthConfig(n_sensors=3, clips_per_sensor=2, duration_s=0.5, sample_rate=8000)
    a = synth.generate(cfg, tmp_path / "a", progress=False, workers=1)
    b = synth.generate(cfg, tmp_path / "b", progress=False, workers=2)
    names = sorted(p.name for p in (a / "audio").iterdir())
    assert names == sorted(p.name for p in (b / "audio").iterdir()) and len(names) == 6
    for n in names:
        assert (a / "audio" / n).read_bytes() == (b / "audio" / n).read_bytes()
    assert (a / "annotations.csv").read_bytes() == (b / "annotations.csv").read_bytes()


# --------------------------------------------------------------------------- fast paths


def test_harmonics_recurrence_equals_sin_loop():
    """Chebyshev recurrence vs one np.sin per harmonic: equal to float rounding."""
    rng = np.random.default_rng(0)
    n = 3 * SR
    f0 = rng.uniform(20.0, 4000.0) * (1.0 + 0.3 * synth._smooth(n, 2.0, SR, rng))
    phase = synth._phase(f0, SR, rng)  # running phase: large arguments, as in the generator
    for amps in (
        np.array([1.0]),
        np.array([1.0, 0.0, 0.15]),
        1.0 / np.arange(1, 27),
        rng.uniform(0.5, 1.0, (5, n)),  # Array[K x N]: amplitudes varying in time
    ):
        ref = np.zeros(n)
        for k in range(len(amps)):
            ref += amps[k] * np.sin((k + 1) * phase)
        got = synth._harmonics(phase, amps)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(amps).sum())
    assert not synth._harmonics(phase, np.array([])).any()


def test_pulse_index_marks_the_pulses():
    rng = np.random.default_rng(1)
    phase = synth._phase(rng.uniform(80.0, 400.0, SR), SR, rng)
    pulses = synth._pulses(phase)
    assert np.array_equal(synth._pulse_index(phase), np.flatnonzero(pulses))


def _voice_reference(n, sr, rng, f0_range, syl_rate, n_voices):
    """mvlib 0.x's _voice: dense per-sample excitation (the sparse version must equal it)."""
    t = np.arange(n) / sr
    by_vowel = np.zeros((len(synth._VOWELS), n))
    for _ in range(n_voices):
        f0 = rng.uniform(*f0_range) * (1.0 + 0.2 * synth._smooth(n, 2.0, sr, rng))
        exc = synth._pulses(synth._phase(f0, sr, rng))
        rate = rng.uniform(*syl_rate)
        syl = np.floor(t * rate + rng.uniform()).astype(int)
        vowel = rng.integers(0, len(synth._VOWELS), syl.max() + 1)[syl]
        talk = rng.uniform(size=syl.max() + 1)[syl] < 0.8
        env = np.sin(np.pi * ((t * rate) % 1.0)) ** 2 * talk
        by_vowel[vowel, np.arange(n)] += exc * env
    out = np.zeros(n)
    for v, (f1, f2, f3) in enumerate(synth._VOWELS):
        if by_vowel[v].any():
            out += synth._resonators(
                by_vowel[v], (f1, f2, f3), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3), sr
            )
    return out


@pytest.mark.parametrize("sr", (16000, 22050))
def test_sparse_voice_equals_dense_reference(sr):
    for seed, (f0r, rate, voices) in enumerate(
        [((90.0, 240.0), (3.0, 6.0), 2), ((250.0, 420.0), (1.5, 3.0), 1), ((90, 280), (3, 6), 9)]
    ):
        n = int(1.3 * sr) + seed
        a = synth._voice(n, sr, np.random.default_rng(seed), f0r, rate, voices)
        b = _voice_reference(n, sr, np.random.default_rng(seed), f0r, rate, voices)
        assert np.array_equal(a, b), seed


def test_place_and_convolve_head_equal_full_fft_convolution():
    rng = np.random.default_rng(3)
    n = 2 * SR
    kernel = rng.standard_normal(int(0.25 * SR)) * np.exp(-np.arange(int(0.25 * SR)) / 400.0)
    sparse = synth._impulse_train(rng.uniform(0, 2.0, 40), rng.uniform(0.5, 1.0, 40), n, SR)
    dense = rng.standard_normal(n)  # takes the FFT branch
    for x in (sparse, dense, np.zeros(n)):
        ref = signal.fftconvolve(x, kernel)[:n]
        np.testing.assert_allclose(synth._place(x, kernel), ref, rtol=0, atol=1e-12)
    # a dry group that starts late and ends early, an IR longer than what is left of the clip
    dry = np.zeros(n)
    dry[SR // 2 : SR] = rng.standard_normal(SR // 2)
    h = rng.standard_normal(int(1.7 * SR)) * np.exp(-np.arange(int(1.7 * SR)) / 3000.0)
    ref = signal.fftconvolve(dry, h)[:n]
    np.testing.assert_allclose(synth._convolve_head(dry, h), ref, rtol=0, atol=1e-11)
    assert not synth._convolve_head(np.zeros(n), h).any()


def test_hum_one_period_tiled_equals_full_render():
    p = {"hum_hz": 60.0, "hum_decay": 0.6, "hum_db": -12.0}
    for sr, n in ((22050, 55125), (16000, 16001)):
        assert synth._tone_period(60.0, sr) in (735, 800)
        a = synth.hum(p, n, sr, np.random.default_rng(4))
        rng = np.random.default_rng(4)
        k = np.arange(1, 8)
        k = k[k * 60.0 < 0.45 * sr]
        x = synth._harmonics(synth._phase(np.full(n, 60.0), sr, rng), 0.6 ** (k - 1))
        ref = x / (np.std(x) + 1e-12) * 10.0 ** (-12.0 / 20.0)
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-10)
    assert synth._tone_period(50.5, 22050) == np.inf


def test_smooth_and_resonators_fast_paths_are_exact():
    rng = np.random.default_rng(5)
    for n, rate in ((SR, 0.3), (12345, 2.0)):
        a = synth._smooth(n, rate, SR, np.random.default_rng(6))
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
    got = synth._resonators(x, (730, 1090, 2440), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3), SR)
    ref = np.zeros(SR)
    for f, bw, g in zip((730, 1090, 2440), (90.0, 120.0, 170.0), (1.0, 0.6, 0.3)):
        sos = signal.butter(1, (f - bw / 2, f + bw / 2), "bandpass", fs=SR, output="sos")
        ref += g * signal.sosfilt(sos, x)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_fade_in_place_equals_envelope():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 100, 881, SR + 1):
        x = rng.standard_normal(n)
        ref = x * synth._envelope(n, SR)
        assert np.array_equal(synth._fade(x.copy(), SR), ref), n


def test_wav_bytes_equal_soundfile():
    """The numpy WAV writer gives libsndfile's bytes (header and float -> int16 rounding)."""
    import io

    rng = np.random.default_rng(8)
    lsb, tiny = 1.0 / 32768, 2.0**-31
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5]) * lsb  # exactly between two codes
    ties31 = np.array([0.5, 1.5, -0.5, -1.5]) * tiny
    for sr, y in (
        (SR, rng.uniform(-0.999, 0.999, 40001)),
        (22050, np.concatenate([ties, ties31, [0.0, -0.0, 1e-300, 0.89, -0.89, -0.99999]])),
        (8000, np.round(rng.uniform(-0.9, 0.9, 4000) / lsb * 2) / 2 * lsb),
        (44100, np.zeros(1)),
        (SR, np.array([1.0, -1.0, 1.2, 0.3])),  # clipping: soundfile's own path
    ):
        buf = io.BytesIO()
        sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
        assert synth._wav_bytes(y, sr) == buf.getvalue(), (sr, len(y))
        back, sr_back = sf.read(io.BytesIO(synth._wav_bytes(y, sr)), dtype="int16")
        assert sr_back == sr and back.shape == y.shape
