"""The foreign-data helper writes a folder that mvlib reads as SONYC-UST-V2."""

import soundfile as sf
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib.data import sonyc, taxonomy


def test_foreign_folder_reads_as_sonyc(tmp_path):
    root = write_foreign_sonyc(tmp_path / "ds", n_sensors=6, clips_per_sensor=3, seed=1)
    header = (root / "annotations.csv").read_text().splitlines()[0].split(",")
    assert header == list(taxonomy.annotation_columns())
    clips = sonyc.load_clips(root)
    assert len(clips) == 18
    assert set(clips["split"]) == {"train", "validate", "test"}
    rates = {sf.info(p).samplerate for p in clips["audio_path"]}
    chans = {sf.info(p).channels for p in clips["audio_path"]}
    assert rates == {16000, 48000, 22050} and chans == {1, 2}


def test_tree_digest_sees_a_one_byte_change(tmp_path):
    root = write_foreign_sonyc(tmp_path / "ds", n_sensors=3, clips_per_sensor=2)
    before = tree_digest(root)
    assert len(before) == 7 and "annotations.csv" in before
    wav = root / "audio" / sorted(p for p in before if p.startswith("audio/"))[0][6:]
    blob = bytearray(wav.read_bytes())
    blob[-1] ^= 1
    wav.write_bytes(bytes(blob))
    after = tree_digest(root)
    assert [k for k in before if before[k] != after[k]] == [wav.relative_to(root).as_posix()]


def test_minimal_columns(tmp_path):
    root = write_foreign_sonyc(tmp_path / "ds", n_sensors=2, clips_per_sensor=2, columns="minimal")
    lines = (root / "annotations.csv").read_text().splitlines()
    assert lines[0] == "audio_filename,sensor_id,split" and len(lines) == 5
