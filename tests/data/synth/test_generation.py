"""Tests of mvlib.data.synth.generation.

Generating a set: files and format, determinism, resume, workers, wav bytes.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from synth_cases import SMALL, SR, annotations_of, files_of

from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.synth import generation
from mvlib.data.synth.folder import DatasetFolderError
from mvlib.data.synth.generation import generate


def test_annotation_columns_and_wavs(small):
    ann = annotations_of(small)
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


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = generate(SMALL, tmp_path / "b", progress=False)
    a, b = files_of(small), files_of(again)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    other = generate(replace(SMALL, seed=4), tmp_path / "c", progress=False)
    c = files_of(other)
    wavs = [k for k in a if k.endswith(".wav")]
    assert all(a[k] != c[k] for k in wavs)
    assert a["annotations.csv"] != c["annotations.csv"]


def test_resume_rewrites_only_what_is_missing(tmp_path):
    root = generate(SMALL, tmp_path / "r", progress=False)
    before = files_of(root)
    wavs = sorted((root / "audio").glob("*.wav"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in wavs}
    stamp_mtime = (root / "synth.json").stat().st_mtime_ns
    assert generate(SMALL, root, progress=False) == root  # complete: returns at once
    assert (root / "synth.json").stat().st_mtime_ns == stamp_mtime
    victim = wavs[5]
    victim.unlink()
    (root / "annotations.csv").unlink()
    wavs[7].write_bytes(b"RIFF garbage")  # a corrupt file is rewritten too
    # a finished set changed since is the user's: refused unless repair is asked for
    with pytest.raises(DatasetFolderError, match="changed since mvlib generated it"):
        generate(SMALL, root, progress=False)
    stamp = json.loads((root / "synth.json").read_text())
    (root / "synth.json").write_text(json.dumps({**stamp, "complete": False}))  # interrupted
    generate(SMALL, root, progress=False)
    after = files_of(root)
    assert after == before
    for p in wavs:
        if p.name not in (victim.name, wavs[7].name):
            assert p.stat().st_mtime_ns == mtimes[p.name], p.name
    with pytest.raises(DatasetFolderError, match="synthetic set of other settings"):
        generate(replace(SMALL, seed=9), root, progress=False)


def test_bad_config_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="max_sources"):
        generate(replace(SMALL, max_sources=9), tmp_path, progress=False)


def test_parallel_generation_writes_identicalfiles_of(tmp_path):
    cfg = SynthConfig(n_sensors=3, clips_per_sensor=2, duration_s=0.5, sample_rate=8000)
    a = generate(cfg, tmp_path / "a", progress=False, workers=1)
    b = generate(cfg, tmp_path / "b", progress=False, workers=2)
    names = sorted(p.name for p in (a / "audio").iterdir())
    assert names == sorted(p.name for p in (b / "audio").iterdir()) and len(names) == 6
    for n in names:
        assert (a / "audio" / n).read_bytes() == (b / "audio" / n).read_bytes()
    assert (a / "annotations.csv").read_bytes() == (b / "annotations.csv").read_bytes()


def test_wav_bytes_equal_soundfile():
    """The numpy WAV writer gives libsndfile's bytes (header and float -> int16 rounding)."""

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
        assert generation._wav_bytes(y, sr) == buf.getvalue(), (sr, len(y))
        back, sr_back = sf.read(io.BytesIO(generation._wav_bytes(y, sr)), dtype="int16")
        assert sr_back == sr and back.shape == y.shape
