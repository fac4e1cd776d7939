"""Extraction into the latent store: equality with the frontends, resume after SIGKILL,
bad audio, shards, frontend mixing, resampling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from mvlib.core.config import FeatureConfig
from mvlib.frontend.audio import BadAudioError, load_audio
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.extract import default_store_dir, extract, parse_shard, shard_clips, store_tag
from mvlib.frontend.logmel import LogMelFrontend
from mvlib.frontend.preprocess import preprocess
from mvlib.frontend.store.format import (
    BAD_FILE,
    DATA_FILE,
    INDEX_FILE,
    StoreError,
    StoreMismatchError,
)
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.verify import verify_store

ROOT = Path(__file__).resolve().parents[2]
LOGMEL = FeatureConfig(frontend="logmel", batch_size=2, device="cpu")


def make_clip(path: Path, seconds: float, sr: int, seed: int, channels: int = 1) -> str:
    """Noise plus a tone, written with soundfile."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 200 + 100 * seed
    x = 0.05 * rng.standard_normal((len(t), channels)) + 0.1 * np.sin(2 * np.pi * f0 * t)[:, None]
    sf.write(path, x.astype(np.float32), sr)
    return str(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> pd.DataFrame:
    """8 short clips: 22.05 kHz mono, one 48 kHz stereo, one 44.1 kHz (two lengths)."""
    d = tmp_path_factory.mktemp("audio")
    rows = []
    for i in range(8):
        sr, ch, sec = (48000, 2, 1.2) if i == 5 else (44100, 1, 1.0) if i == 6 else (22050, 1, 1)
        rows.append((f"c{i}", make_clip(d / f"c{i}.wav", sec, sr, seed=i, channels=ch)))
    return pd.DataFrame(rows, columns=["clip_id", "audio_path"])


@pytest.fixture(scope="module")
def dac_frontend() -> DACFrontend:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DACFrontend(FeatureConfig(frontend="dac", device="cpu", dac_seed=0))


def part_bytes(store: Path, part: str = "part-000-of-001") -> tuple[bytes, bytes]:
    return (store / part / DATA_FILE).read_bytes(), (store / part / INDEX_FILE).read_bytes()


def test_logmel_store_matches_frontend(tmp_path, clips):
    rep = extract(clips, tmp_path, LOGMEL, {"dataset": "toy"}, progress=False)
    assert (rep.n_done, rep.n_skipped_existing, rep.bad) == (8, 0, [])
    s = LatentStore(tmp_path)
    fe = LogMelFrontend(LOGMEL)
    assert s.identity == fe.identity and s.header["provenance"]["dataset"] == "toy"
    assert s.header["provenance"]["features_config"]["frontend"] == "logmel"
    for cid, path in zip(clips["clip_id"], clips["audio_path"]):
        x = preprocess(*load_audio(path), LOGMEL)
        ref = fe(torch.from_numpy(x)[None, None])[0].numpy()
        z = s.get(cid)
        assert z.shape == ref.shape == (int(np.ceil(len(x) / 512)), 128)
        np.testing.assert_array_equal(z, ref.astype(np.float16))
    # resampled from 22050 and 48000 (1.2 s stereo): ceil(44100 * s / 512) frames
    assert s.frames[s.clip_ids.index("c0")] == 87 and s.frames[s.clip_ids.index("c5")] == 104
    meta = s.index.set_index("clip_id").loc["c5"]
    assert meta["source_sample_rate"] == 48000 and meta["source_channels"] == 2
    assert meta["loudness_out"] == pytest.approx(-24.0) and len(meta["source_sha256"]) == 64
    again = extract(clips, tmp_path, LOGMEL, progress=False)
    assert again.n_done == 0 and again.n_skipped_existing == 8
    assert "nothing to do" in again.summary()


@pytest.mark.slow
def test_dac_store_equals_encoder(tmp_path, clips, dac_frontend):
    import dac

    cfg = FeatureConfig(frontend="dac", batch_size=2, device="cpu", max_clips=2)
    extract(clips, tmp_path, cfg, progress=False, frontend=dac_frontend)
    s = LatentStore(tmp_path)
    assert s.clip_ids == ["c0", "c1"] and s.dim == 1024
    assert s.identity["weights"] == "random-init-seed-0"
    assert s.index["weights_sha256"].eq(s.identity["weights_sha256"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(cfg.dac_seed)  # independent reference: dac's own model and padding
        model = dac.DAC().eval()
    for cid, path in zip(clips["clip_id"][:2], clips["audio_path"][:2]):
        x = torch.from_numpy(preprocess(*load_audio(path), cfg))[None, None]
        with torch.inference_mode():
            ref = model.encoder(model.preprocess(x, 44100))[0].T.numpy()  # (T, 1024)
        z = s.get(cid)
        assert z.shape == ref.shape == (87, 1024)
        # equal to the encoder's latent up to float16 rounding (relative 2^-11)
        np.testing.assert_allclose(z.astype(np.float32), ref, rtol=2**-10, atol=1e-6)


def test_store_refuses_mixing_frontends(tmp_path, clips, dac_frontend):
    extract(clips, tmp_path, FeatureConfig(max_clips=1, device="cpu"), progress=False)
    cfg = FeatureConfig(frontend="dac", max_clips=1, device="cpu")
    with pytest.raises(StoreMismatchError, match="identity.frontend: 'logmel' != 'dac'"):
        extract(clips, tmp_path, cfg, progress=False, frontend=dac_frontend)
    other = FeatureConfig(n_mels=64, max_clips=1, device="cpu")
    with pytest.raises(StoreMismatchError, match="identity.n_mels"):
        extract(clips, tmp_path, other, progress=False)
    assert len(LatentStore(tmp_path)) == 1


_WORKER = """
import sys, time
import pandas as pd
from mvlib.core.config import FeatureConfig
from mvlib.frontend.extract import extract
from mvlib.frontend.store.writer import StoreWriter

append = StoreWriter.append


def slow_append(self, *args, **kwargs):
    append(self, *args, **kwargs)
    time.sleep(float(sys.argv[3]))  # so that the kill lands mid-run


StoreWriter.append = slow_append
cfg = FeatureConfig(frontend="logmel", batch_size=2, device="cpu")
shard = tuple(map(int, sys.argv[4].split("/"))) if len(sys.argv) > 4 else (0, 1)
extract(pd.read_csv(sys.argv[1]), sys.argv[2], cfg, {"dataset": "toy"}, shard, progress=False)
"""


def test_kill_and_resume_equals_uninterrupted_run(tmp_path, clips):
    ref, run = tmp_path / "ref", tmp_path / "run"
    extract(clips, ref, LOGMEL, {"dataset": "toy"}, progress=False)
    (tmp_path / "worker.py").write_text(_WORKER)
    clips.to_csv(tmp_path / "clips.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "clips.csv"), str(run), "1"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    index = run / "part-000-of-001" / INDEX_FILE
    deadline = time.monotonic() + 120
    while not (index.exists() and index.read_bytes().count(b"\n") >= 2):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = LatentStore(run).clip_ids
    assert 2 <= len(done) < 8
    # make the crash worse: uncommitted data bytes and a torn index line
    data, idx = part_bytes(run)
    with open(run / "part-000-of-001" / DATA_FILE, "ab") as f:
        f.write(b"\x07" * 1001)
    with open(index, "ab") as f:
        f.write(b'{"clip_id": "c7", "frames": 8')
    assert LatentStore(run).clip_ids == done
    # verify names the unfinished clips and the one worker command that redoes them
    check = verify_store(run, clips)
    assert not check.ok and {f.clip_id for f in check.problems} == set(clips.clip_id) - set(done)
    assert {f.kind for f in check.problems} == {"missing"}
    assert check.commands() == [f"mvlib extract --out {run} --shard 0/1"]
    rep = extract(clips, run, LOGMEL, {"dataset": "toy"}, progress=False)
    assert rep.n_skipped_existing == len(done) and rep.n_done == 8 - len(done)
    assert part_bytes(run) == part_bytes(ref)  # bitwise: data and index
    assert verify_store(run, clips).ok


def test_bad_audio_skip_and_fail(tmp_path, clips):
    d = tmp_path / "audio"
    d.mkdir()
    (d / "corrupt.wav").write_bytes(b"not audio at all" * 64)
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "silent.wav", np.zeros(22050, np.float32), 22050)
    nan = np.full(22050, 0.1, np.float32)
    nan[7] = np.nan
    sf.write(d / "nan.wav", nan, 22050, subtype="FLOAT")
    sf.write(d / "three.wav", np.full((22050, 3), 0.1, np.float32), 22050)
    bad = pd.DataFrame(
        [(p.stem, str(p)) for p in sorted(d.iterdir())] + [("missing", str(d / "missing.wav"))],
        columns=["clip_id", "audio_path"],
    )
    table = pd.concat([clips.iloc[:2], bad, clips.iloc[2:4]], ignore_index=True)
    fail = FeatureConfig(batch_size=1, device="cpu", on_bad_audio="fail")
    with pytest.raises(BadAudioError, match=r"clip 'corrupt': unreadable") as info:
        extract(table, tmp_path / "s", fail, progress=False)
    assert info.value.clip_id == "corrupt"
    assert LatentStore(tmp_path / "s").clip_ids == ["c0", "c1"]  # committed before: kept
    rep = extract(table, tmp_path / "s", LOGMEL, progress=False)
    assert rep.n_skipped_existing == 2 and rep.n_done == 2
    reasons = {b["clip_id"]: b["reason"] for b in rep.bad}
    assert set(reasons) == {"corrupt", "empty", "nan", "silent", "three", "missing"}
    for cid, word in [("empty", "unreadable"), ("nan", "NaN"), ("silent", "silent")]:
        assert word in reasons[cid]
    assert "3 channels" in reasons["three"] and "No such file" in reasons["missing"]
    text = rep.summary()  # the console names the first few skipped clips and the count
    assert "2 clips extracted, 2 already in the store, 6 skipped as bad audio" in text
    assert "skipped 'corrupt': unreadable" in text and "... and 1 more skipped" in text
    assert f"6 skipped clip(s) in all, listed in {tmp_path / 's'}" in text
    s = LatentStore(tmp_path / "s")
    assert s.clip_ids == ["c0", "c1", "c2", "c3"]
    assert sorted(s.bad()["clip_id"]) == sorted(reasons)
    lines = (tmp_path / "s" / "part-000-of-001" / BAD_FILE).read_text().splitlines()
    assert len(lines) == 6


def test_shards_merge_to_a_single_run(tmp_path, clips):
    whole = extract(clips, tmp_path / "one", LOGMEL, progress=False)
    reps = [extract(clips, tmp_path / "two", LOGMEL, shard=(i, 2), progress=False) for i in (0, 1)]
    assert [r.n_done for r in reps] == [4, 4] and whole.n_done == 8
    a, b = LatentStore(tmp_path / "one"), LatentStore(tmp_path / "two")
    assert a.clip_ids == b.clip_ids
    assert set(b.index[b.index["part"] == "part-001-of-002"]["clip_id"]) == {"c1", "c3", "c5", "c7"}
    for cid in a.clip_ids:
        np.testing.assert_array_equal(a.get(cid), b.get(cid))
    meta = ["clip_id", "frames", "source_sha256", "gain_db", "loudness_in"]
    pd.testing.assert_frame_equal(a.index[meta], b.index[meta])


def test_shard_assignment_and_helpers(tmp_path, monkeypatch, clips):
    assert shard_clips(clips, (1, 3), None)["clip_id"].tolist() == ["c1", "c4", "c7"]
    assert shard_clips(clips, (0, 2), 5)["clip_id"].tolist() == ["c0", "c2", "c4"]
    with pytest.raises(ValueError, match="duplicate clip_id.*c0"):
        shard_clips(pd.concat([clips, clips.iloc[:1]]), (0, 1), None)
    with pytest.raises(ValueError, match="lacks column"):
        shard_clips(clips[["clip_id"]], (0, 1), None)
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 0 / 1 ") == (0, 1)
    for bad in ("4/4", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    fe = LogMelFrontend(LOGMEL)
    assert store_tag("synth-abc", fe) == "synth-abc-logmel128-sr44100-hop512-lufs-24"
    with pytest.raises(ValueError, match="dataset name"):
        store_tag("a/b", fe)
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path))
    p = default_store_dir("synth-abc", fe)
    assert p == tmp_path / "latents" / "synth-abc" / fe.tag and p.is_dir()


def test_process_pool_gives_the_same_store(tmp_path, clips):
    (tmp_path / "bad.wav").write_bytes(b"junk")
    small = pd.concat(
        [
            clips.iloc[:3],
            pd.DataFrame([("bad", str(tmp_path / "bad.wav"))], columns=["clip_id", "audio_path"]),
        ]
    )
    extract(small, tmp_path / "t", LOGMEL, progress=False, processes=False)
    rep = extract(small, tmp_path / "p", LOGMEL, progress=False, processes=True, workers=2)
    assert part_bytes(tmp_path / "t") == part_bytes(tmp_path / "p")
    assert [b["clip_id"] for b in rep.bad] == ["bad"] and "unreadable" in rep.bad[0]["reason"]


def test_finished_store_is_checked_without_the_writer_lock(tmp_path):
    """Several processes (the sweep's workers) may check one finished store at once."""
    import fcntl

    from mvlib.core.config import FeatureConfig
    from mvlib.frontend.extract import extract
    from mvlib.frontend.store.format import part_name

    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.sin(np.arange(22050) / 10.0), 22050)
    clips = pd.DataFrame({"clip_id": ["a.wav"], "audio_path": [str(wav)]})
    cfg = FeatureConfig(frontend="logmel")
    extract(clips, tmp_path / "store", cfg, progress=False)
    # another process holds the part's lock: a finished store must still be reported done
    with open(tmp_path / "store" / part_name((0, 1)) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = extract(clips, tmp_path / "store", cfg, progress=False)
    assert report.n_done == 0 and report.n_skipped_existing == 1


def _copy_clips(clips: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The module's clips copied into a folder this test may change."""
    folder.mkdir()
    out = clips.copy()
    for i, p in enumerate(clips["audio_path"]):
        dst = folder / Path(p).name
        dst.write_bytes(Path(p).read_bytes())
        out.loc[i, "audio_path"] = str(dst)
    return out


def test_changed_added_removed_audio_redoes_only_those_clips(tmp_path, clips):
    mine = _copy_clips(clips, tmp_path / "audio")
    store = tmp_path / "s"
    extract(mine.iloc[:7], store, LOGMEL, {"dataset": "toy"}, progress=False)
    data_before = (store / "part-000-of-001" / DATA_FILE).read_bytes()
    old = LatentStore(store).get("c3").copy()
    make_clip(Path(mine.loc[3, "audio_path"]), 1, 22050, seed=42)  # c3's audio changed
    p4 = Path(mine.loc[4, "audio_path"])
    os.utime(p4, ns=(p4.stat().st_atime_ns, p4.stat().st_mtime_ns + 10**9))  # touched only
    table = pd.concat([mine.iloc[:3], mine.iloc[3:]]).drop(index=6)  # c6 removed, c7 added
    rep = extract(table, store, LOGMEL, {"dataset": "toy"}, progress=False)
    assert rep.n_done == 2 and rep.n_skipped_existing == 5
    assert [(r["clip_id"], r["reason"]) for r in rep.retired] == [
        ("c3", "audio changed (content hash differs)")
    ]
    assert "1 redone" in rep.summary() and "redone 'c3': audio changed" in rep.summary()
    s = LatentStore(store)
    assert s.clip_ids == [f"c{i}" for i in range(8)]  # c6 stays (unused), c3 once
    fe = LogMelFrontend(LOGMEL)
    x = preprocess(*load_audio(mine.loc[3, "audio_path"]), LOGMEL)
    ref = fe(torch.from_numpy(x)[None, None])[0].numpy().astype(np.float16)
    # extraction preprocesses in batches: equal to the one-by-one path within ~2 float16 ulps
    np.testing.assert_allclose(s.get("c3").astype(np.float32), ref, rtol=4e-3, atol=1e-4)
    assert not np.allclose(old.astype(np.float32), ref, rtol=4e-3, atol=1e-4)
    # old bytes untouched (append-only): nothing written before is lost or rewritten
    assert (store / "part-000-of-001" / DATA_FILE).read_bytes()[: len(data_before)] == data_before
    again = extract(table, store, LOGMEL, {"dataset": "toy"}, progress=False)
    assert again.n_done == 0 and "nothing to do" in again.summary()


def test_truncated_latents_are_detected_and_redone(tmp_path, clips):
    ref, run = tmp_path / "ref", tmp_path / "run"
    extract(clips, ref, LOGMEL, {"dataset": "toy"}, progress=False)
    extract(clips, run, LOGMEL, {"dataset": "toy"}, progress=False)
    f = run / "part-000-of-001" / DATA_FILE
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size // 2)
    with pytest.raises(StoreError, match=r"latents.f16: \d+ bytes, but its index commits"):
        LatentStore(run)
    rep = extract(clips, run, LOGMEL, {"dataset": "toy"}, progress=False)
    assert 0 < rep.n_done < 8 and rep.n_done + rep.n_skipped_existing == 8
    assert part_bytes(run) == part_bytes(ref)  # redone in place, bitwise


def test_store_json_deleted_then_other_settings_are_refused(tmp_path, clips):
    store = tmp_path / "s"
    extract(clips.iloc[:3], store, LOGMEL, progress=False)
    before = part_bytes(store)
    (store / "store.json").unlink()
    other = FeatureConfig(frontend="logmel", n_mels=64, batch_size=2, device="cpu")
    with pytest.raises(StoreMismatchError, match=r"part-000-of-001: .*identity.n_mels: 128 != 64"):
        extract(clips, store, other, progress=False)
    assert part_bytes(store) == before and not (store / "store.json").exists()
    rep = extract(clips.iloc[:3], store, LOGMEL, progress=False)  # same settings: resumes
    assert rep.n_done == 0 and (store / "store.json").exists()


def test_verify_redoes_corrupt_latent_bytes(tmp_path, clips):
    store = tmp_path / "s"
    extract(clips.iloc[:4], store, LOGMEL, progress=False)
    good = part_bytes(store)[0]
    f = store / "part-000-of-001" / DATA_FILE
    raw = bytearray(good)
    raw[-3] ^= 0x55  # inside the last clip (c3)
    f.write_bytes(bytes(raw))
    assert extract(clips.iloc[:4], store, LOGMEL, progress=False).n_done == 0  # cheap: unseen
    rep = extract(clips.iloc[:4], store, LOGMEL, progress=False, verify=True)
    assert [(r["clip_id"], r["reason"]) for r in rep.retired] == [
        ("c3", "latent bytes corrupt (checksum differs)")
    ]
    s = LatentStore(store)
    ref = extract(clips.iloc[:4], tmp_path / "ref", LOGMEL, progress=False)
    assert ref.n_done == 4
    np.testing.assert_array_equal(s.get("c3"), LatentStore(tmp_path / "ref").get("c3"))


def test_a_second_process_waits_for_the_writer_then_reuses_its_clips(tmp_path, clips):
    ref, run = tmp_path / "ref", tmp_path / "run"
    extract(clips, ref, LOGMEL, {"dataset": "toy"}, progress=False)
    (tmp_path / "worker.py").write_text(_WORKER)
    clips.to_csv(tmp_path / "clips.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "clips.csv"), str(run)]
    proc = subprocess.Popen([*cmd, "0.2"], env=env, stderr=subprocess.PIPE)
    index = run / "part-000-of-001" / INDEX_FILE
    deadline = time.monotonic() + 120
    while not (index.exists() and index.read_bytes().count(b"\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.05)
    rep = extract(clips, run, LOGMEL, {"dataset": "toy"}, progress=False)  # waits, no error
    assert proc.wait() == 0, proc.stderr.read().decode()
    assert rep.n_done == 0 and rep.n_skipped_existing == 8
    assert part_bytes(run) == part_bytes(ref)


def test_readme_flow_two_shards_then_train(tmp_path, monkeypatch, capsys):
    """`mvlib extract --shard 0/2`, `--shard 1/2`, then `mvlib train`: one store, reused."""
    from mvlib import cli

    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    tiny = ["--profile", "ci", "-q", "--set", "synth.n_sensors=6"]
    tiny += ["--set", "synth.clips_per_sensor=4", "--set", "synth.duration_s=1.0"]
    tiny += ["--set", "train.epochs=1", "--set", "split.n_pairs=[32,8,8]"]
    assert cli.main(["synth", *tiny]) == 0
    capsys.readouterr()
    for shard in ("0/2", "1/2"):
        assert cli.main(["extract", "--shard", shard, *tiny]) == 0
    out = capsys.readouterr().out
    store = Path(out.strip().splitlines()[-1])
    before = {p: p.read_bytes() for p in store.rglob("*.f16")}
    assert cli.main(["extract", *tiny]) == 0  # a later unsharded extract: nothing to do
    assert "nothing to do, all 24 clips" in capsys.readouterr().out
    assert cli.main(["train", "--run-dir", str(tmp_path / "run"), *tiny]) == 0
    assert (tmp_path / "run" / "done.json").exists()
    assert {p: p.read_bytes() for p in store.rglob("*.f16")} == before
    assert LatentStore(store).parts() == ["part-000-of-002", "part-001-of-002"]


def test_a_dead_shard_worker_is_rerun_alone_and_redoes_only_its_unfinished_clips(tmp_path, clips):
    ref, run = tmp_path / "ref", tmp_path / "run"
    extract(clips, ref, LOGMEL, {"dataset": "toy"}, progress=False)
    extract(clips, run, LOGMEL, {"dataset": "toy"}, shard=(0, 2), progress=False)
    (tmp_path / "worker.py").write_text(_WORKER)
    clips.to_csv(tmp_path / "clips.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "clips.csv"), str(run)]
    proc = subprocess.Popen([*cmd, "2", "1/2"], env=env, stderr=subprocess.PIPE)
    index = run / "part-001-of-002" / INDEX_FILE
    deadline = time.monotonic() + 120
    while not (index.exists() and index.read_bytes().count(b"\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    part0 = part_bytes(run, "part-000-of-002")
    check = verify_store(run, clips)
    unfinished = {f.clip_id for f in check.problems}
    assert unfinished and unfinished < {"c1", "c3", "c5", "c7"}
    assert check.commands() == [f"mvlib extract --out {run} --shard 1/2"]  # that worker only
    rep = extract(clips, run, LOGMEL, {"dataset": "toy"}, shard=(1, 2), progress=False)
    assert rep.n_done == len(unfinished) and rep.n_skipped_existing == 4 - len(unfinished)
    assert part_bytes(run, "part-000-of-002") == part0  # the other worker's part untouched
    assert verify_store(run, clips).ok
    a, b = LatentStore(ref), LatentStore(run)
    assert a.clip_ids == b.clip_ids
    for cid in a.clip_ids:
        np.testing.assert_array_equal(a.get(cid), b.get(cid))
