"""The memory-mapped latent store: commits, crash repair, headers, shards, reading."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket

import numpy as np
import pytest

from mvlib.frontend.store.format import (
    DATA_FILE,
    INDEX_FILE,
    StoreError,
    StoreMismatchError,
    part_name,
)
from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter

D = 8
HEADER = {
    "identity": {"frontend": "logmel", "weights_sha256": "abc", "n_mels": D},
    "dim": D,
    "provenance": {"dataset": "toy"},
}


def latents(n_clips: int, seed: int = 0, lengths=(5, 7, 3)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        f"clip{i:02d}": rng.standard_normal((lengths[i % len(lengths)], D)).astype(np.float32)
        for i in range(n_clips)
    }


def write(path, items, shard=(0, 1), header=HEADER):
    with StoreWriter(path, header, shard) as w:
        for cid, z in items.items():
            w.append(cid, z, {"source_file": f"{cid}.wav"})
        return w


def test_round_trip_memmap_and_index(tmp_path):
    items = latents(5)
    write(tmp_path, dict(reversed(items.items())))  # written in reverse order
    s = LatentStore(tmp_path)
    assert len(s) == 5 and s.dim == D and s.identity == HEADER["identity"]
    assert s.clip_ids == sorted(items)  # stable sorted order, whatever the write order
    for i, cid in enumerate(s.clip_ids):
        z = s.get(cid)
        assert isinstance(z, np.memmap) and z.dtype == np.float16  # a view, not a copy
        np.testing.assert_array_equal(z, items[cid].astype(np.float16))
        np.testing.assert_array_equal(s.get(i), z)
    np.testing.assert_array_equal(s.frames, [len(items[c]) for c in s.clip_ids])
    assert list(s.index.columns[:4]) == ["clip_id", "part", "offset", "frames"]
    assert s.index.loc[0, "source_file"] == "clip00.wav"
    assert s.header["dtype"] == "float16" and s.header["provenance"]["dataset"] == "toy"
    assert s.completed(["clip00", "clip04"]) and not s.completed(["clip00", "nope"])
    with pytest.raises(KeyError, match="nope"):
        s.get("nope")
    with pytest.raises(IndexError):
        s.get(5)
    # the data file holds exactly the committed rows
    size = (tmp_path / part_name((0, 1)) / DATA_FILE).stat().st_size
    assert size == s.frames.sum() * D * 2


def test_get_batch_crops(tmp_path):
    items = latents(3, lengths=(6, 9, 7))
    write(tmp_path, items)
    s = LatentStore(tmp_path)
    with pytest.raises(ValueError, match="different frame counts"):
        s.get_batch([0, 1])
    b = s.get_batch(["clip00", "clip02"], crop_frames=4)
    assert b.shape == (2, 4, D) and b.dtype == np.float32
    np.testing.assert_array_equal(b[1], items["clip02"][:4].astype(np.float16))  # start 0
    rng = np.random.default_rng(1)
    b1 = s.get_batch([1, 1, 1, 1, 1], crop_frames=3, rng=rng)
    full = items["clip01"].astype(np.float16).astype(np.float32)
    starts = []
    for crop in b1:
        hits = [t for t in range(9 - 3 + 1) if np.array_equal(full[t : t + 3], crop)]
        assert len(hits) == 1
        starts += hits
    assert len(set(starts)) > 1  # random starts
    again = s.get_batch([1, 1, 1, 1, 1], crop_frames=3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(b1, again)  # deterministic given the seed
    with pytest.raises(ValueError, match="shorter than the crop"):
        s.get_batch([0, 1], crop_frames=8)
    assert s.get_batch([0], crop_frames=None).shape == (1, 6, D)
    with pytest.raises(IndexError, match="row 3 out of range"):
        s.get_batch(np.array([0, 3]), crop_frames=2)
    np.testing.assert_array_equal(  # negative rows count from the end, as in get()
        s.get_batch(np.array([-1]), crop_frames=2)[0], s.get(2)[:2].astype(np.float32)
    )


def test_torn_tail_is_ignored_then_repaired(tmp_path):
    items = latents(4)
    write(tmp_path, dict(list(items.items())[:3]))
    part = tmp_path / part_name((0, 1))
    good_index = (part / INDEX_FILE).read_bytes()
    good_data = (part / DATA_FILE).read_bytes()
    # a crash between the data fsync and a complete index line
    with open(part / DATA_FILE, "ab") as f:
        f.write(b"\x01" * (5 * D * 2 + 3))
    with open(part / INDEX_FILE, "ab") as f:
        f.write(b'{"clip_id": "clip03", "offs')
    s = LatentStore(tmp_path)  # the reader ignores the torn tail and leaves it alone
    assert s.clip_ids == ["clip00", "clip01", "clip02"]
    assert (part / INDEX_FILE).read_bytes() != good_index
    w = StoreWriter(tmp_path, HEADER)
    assert w.done == {"clip00", "clip01", "clip02"}
    assert w.repaired == {"index_bytes": 27, "data_bytes": 5 * D * 2 + 3, "lost_clips": 0}
    assert (part / INDEX_FILE).read_bytes() == good_index
    assert (part / DATA_FILE).read_bytes() == good_data
    w.append("clip03", items["clip03"])
    w.close()
    s = LatentStore(tmp_path)
    np.testing.assert_array_equal(s.get("clip03"), items["clip03"].astype(np.float16))


def test_corruption_beyond_a_torn_tail_is_an_error(tmp_path):
    write(tmp_path, latents(3))
    part = tmp_path / part_name((0, 1))
    lines = (part / INDEX_FILE).read_bytes().split(b"\n")
    (part / INDEX_FILE).write_bytes(b"\n".join([lines[0], b"garbage", *lines[2:]]))
    with pytest.raises(StoreError, match=r"index.jsonl:2: corrupt"):
        LatentStore(tmp_path)
    (part / INDEX_FILE).write_bytes(b"\n".join(lines))
    with open(part / DATA_FILE, "r+b") as f:
        f.truncate(5 * D * 2 + 10)  # clip00 whole, clip01 cut short
    # the reader names the file and what was lost (not numpy's "mmap length is greater")
    with pytest.raises(StoreError, match=r"latents.f16: 90 bytes.*2 clip\(s\) are lost"):
        LatentStore(tmp_path)
    with StoreWriter(tmp_path, HEADER) as w:  # the writer keeps what is whole, drops the rest
        assert w.done == {"clip00"} and w.repaired["lost_clips"] == 2
    assert LatentStore(tmp_path).clip_ids == ["clip00"]


def test_store_refuses_other_frontend_weights_and_shards(tmp_path):
    write(tmp_path, latents(1))
    other = {**HEADER, "identity": {**HEADER["identity"], "frontend": "dac"}}
    with pytest.raises(StoreMismatchError, match=r"identity\.frontend: 'logmel' != 'dac'"):
        StoreWriter(tmp_path, other)
    other = {**HEADER, "identity": {**HEADER["identity"], "weights_sha256": "xyz"}}
    with pytest.raises(StoreMismatchError, match="identity.weights_sha256"):
        StoreWriter(tmp_path, other)
    with pytest.raises(StoreMismatchError, match="provenance.dataset"):
        StoreWriter(tmp_path, {**HEADER, "provenance": {"dataset": "sonyc"}})
    # other provenance (config, versions) may differ on resume
    StoreWriter(tmp_path, {**HEADER, "provenance": {"dataset": "toy", "x": 1}}).close()
    assert json.loads((tmp_path / "store.json").read_text())["identity"]["frontend"] == "logmel"


def test_shards_merge_and_duplicates_are_refused(tmp_path):
    items = latents(6)
    ids = list(items)
    for i in range(2):
        write(tmp_path / "a", {c: items[c] for c in ids[i::2]}, shard=(i, 2))
    write(tmp_path / "b", items)
    a, b = LatentStore(tmp_path / "a"), LatentStore(tmp_path / "b")
    assert a.clip_ids == b.clip_ids == ids and a.parts() == ["part-000-of-002", "part-001-of-002"]
    for cid in ids:
        np.testing.assert_array_equal(a.get(cid), b.get(cid))
    write(tmp_path / "a", {"clip03": items["clip03"]}, shard=(0, 2))  # 03 is in part 1 too
    with pytest.raises(StoreError, match="more than one part.*clip03"):
        LatentStore(tmp_path / "a")


def test_one_writer_per_part_and_no_double_commit(tmp_path):
    w = StoreWriter(tmp_path, HEADER)
    me = rf"PID {os.getpid()} on host {re.escape(socket.gethostname())}"
    with pytest.raises(StoreError, match=rf"a writer \({me}\) is already writing this part"):
        StoreWriter(tmp_path, HEADER, timeout=0)
    w.append("x", np.ones((2, D)))
    with pytest.raises(AssertionError, match="already"):
        w.append("x", np.ones((2, D)))
    with pytest.raises(AssertionError, match="expected latent"):
        w.append("y", np.ones((2, D + 1)))
    with pytest.raises(ValueError, match="overflows float16"):
        w.append("z", np.full((2, D), 1e6))
    assert len(LatentStore(tmp_path)) == 1  # visible while the writer is still open
    w.close()
    StoreWriter(tmp_path, HEADER).close()  # the lock is released on close


def test_bad_list_and_pickling(tmp_path):
    with StoreWriter(tmp_path, HEADER) as w:
        w.record_bad("b1", "b1.wav", "silent")
        w.record_bad("b1", "b1.wav", "silent again")
        w.record_bad("b2", "b2.wav", "empty")
        w.append("b2", np.ones((1, D)))  # fixed and committed: no longer bad
    s = LatentStore(tmp_path)
    assert s.bad().to_dict("records") == [
        {"clip_id": "b1", "path": "b1.wav", "reason": "silent again"}
    ]
    s.get(0)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2._maps == {} and np.array_equal(s2.get("b2"), np.ones((1, D), np.float16))


def test_empty_store_reads(tmp_path):
    StoreWriter(tmp_path, HEADER).close()
    s = LatentStore(tmp_path)
    assert len(s) == 0 and s.clip_ids == [] and s.completed([])
    with pytest.raises(StoreError, match="not a latent store"):
        LatentStore(tmp_path / "nothing")


def test_feature_statistics_streams_mean_and_std(tmp_path):
    from mvlib.frontend.store.reader import LatentStore
    from mvlib.frontend.store.statistics import feature_statistics
    from mvlib.frontend.store.writer import StoreWriter

    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(t, 4)).astype(np.float16) for t in (5, 9, 3)]
    with StoreWriter(tmp_path / "s", {"identity": {"frontend": "logmel"}, "dim": 4}) as w:
        for i, x in enumerate(xs):
            w.append(f"c{i}", x, {})
    mean, std = feature_statistics(LatentStore(tmp_path / "s"))
    allx = np.concatenate(xs).astype(np.float64)
    np.testing.assert_allclose(mean, allx.mean(0), atol=1e-12)
    np.testing.assert_allclose(std, allx.std(0), atol=1e-9)


def test_rows_of_clip_ids_name_the_missing_ones(tmp_path):
    from mvlib.frontend.store.reader import LatentStore
    from mvlib.frontend.store.writer import StoreWriter

    with StoreWriter(tmp_path / "s", {"identity": {"frontend": "logmel"}, "dim": 2}) as w:
        for c in ("b", "a", "c"):
            w.append(c, np.zeros((3, 2), np.float16), {})
    s = LatentStore(tmp_path / "s")
    np.testing.assert_array_equal(s.rows(["c", "a"]), [2, 0])
    np.testing.assert_array_equal(s.lookup(["c", "zz", "a", "0", "é"]), [2, -1, 0, -1, -1])
    assert s.lookup([]).shape == (0,) and "b" in s and "zz" not in s and 3 not in s
    with pytest.raises(KeyError, match=r"1 clip\(s\) are not in the latent store.*'zz'"):
        s.rows(["a", "zz"])


def _files(path):
    """Every file under a store folder and its bytes (locks aside)."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_corrupt_store_json_is_one_line_and_loses_nothing(tmp_path):
    from mvlib.core.errors import MvlibError, format_error

    write(tmp_path, latents(3))
    parts = {k: v for k, v in _files(tmp_path).items() if k.startswith("part-")}
    (tmp_path / "store.json").write_text('{"format": "mvlib-latent-store", "dim": ')
    for make in (lambda: LatentStore(tmp_path), lambda: StoreWriter(tmp_path, HEADER)):
        with pytest.raises(StoreError, match=r"store.json: corrupt header, not JSON") as info:
            make()
        assert isinstance(info.value, MvlibError) and "delete this file" in info.value.fix
        line = format_error(info.value)
        assert "\n" not in line and line.startswith(f"mvlib: error: {tmp_path / 'store.json'}")
    assert {k: v for k, v in _files(tmp_path).items() if k.startswith("part-")} == parts
    # the parts keep their own settings: deleting store.json and writing again restores it
    (tmp_path / "store.json").unlink()
    with pytest.raises(StoreError, match="no store.json.*run `mvlib extract`"):
        LatentStore(tmp_path)
    StoreWriter(tmp_path, HEADER).close()
    assert LatentStore(tmp_path).clip_ids == ["clip00", "clip01", "clip02"]


def test_part_headers_refuse_other_settings_when_store_json_is_gone(tmp_path):
    """Any identity key (here one the frontend may add, e.g. precision) is compared per part."""
    write(tmp_path, latents(2))
    before = _files(tmp_path)
    (tmp_path / "store.json").unlink()
    other = {**HEADER, "identity": {**HEADER["identity"], "precision": "bf16"}}
    with pytest.raises(
        StoreMismatchError,
        match=r"part-000-of-001: was written with other "
        r"settings.*identity.precision: None != 'bf16'",
    ):
        StoreWriter(tmp_path, other, shard=(1, 2))  # another part, another layout
    assert not (tmp_path / "store.json").exists()  # not rewritten with the wrong settings
    assert not (tmp_path / "part-001-of-002").exists()
    assert {k: v for k, v in _files(tmp_path).items()} == {
        k: v for k, v in before.items() if k != "store.json"
    }
    # a part without its own header (bytes of unknown settings) is never read
    (tmp_path / "store.json").write_bytes(before["store.json"])
    (tmp_path / part_name((0, 1)) / "part.json").unlink()
    with pytest.raises(StoreError, match="holds data but no part.json"):
        LatentStore(tmp_path)


def test_a_second_writer_waits_then_sees_the_first_ones_clips(tmp_path):
    import threading
    import time

    first = StoreWriter(tmp_path, HEADER)
    got = {}

    def second():
        t0 = time.monotonic()
        with StoreWriter(tmp_path, HEADER) as w:  # blocks until the first one closes
            got.update(waited=time.monotonic() - t0, done=set(w.done))

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert not got, "the second writer did not wait"
    first.append("a", np.ones((2, D)))
    first.close()
    t.join(10)
    assert got["waited"] >= 0.4 and got["done"] == {"a"}


def test_retired_rows_are_superseded_never_mixed(tmp_path):
    items = latents(3)
    write(tmp_path, items)
    s = LatentStore(tmp_path)
    uid = s.index.set_index("clip_id").loc["clip01", "uid"]
    new = np.full((4, D), 0.5, np.float32)
    with StoreWriter(tmp_path, HEADER) as w:
        w.retire(part_name((0, 1)), uid, "clip01", "audio changed")
        assert "clip01" not in w.done and "clip01" not in LatentStore(tmp_path)
        w.append("clip01", new, {"source_sha256": "new"})
    s = LatentStore(tmp_path)
    assert s.clip_ids == ["clip00", "clip01", "clip02"] and len(s.index) == 3
    np.testing.assert_array_equal(s.get("clip01"), new.astype(np.float16))
    np.testing.assert_array_equal(s.get("clip02"), items["clip02"].astype(np.float16))
    assert s.index.set_index("clip_id").loc["clip01", "source_sha256"] == "new"


def test_parts_of_any_layout_read_as_one_and_stream_in_batches(tmp_path):
    """Parts written by 1-, 2- and 3-way shardings: one store; BatchLoader reads across them."""
    from mvlib.ml.batches import BatchLoader

    items = latents(12, lengths=(9, 11, 10))
    ids = list(items)
    layout = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    for k, shard in enumerate(layout):
        write(tmp_path / "many", {c: items[c] for c in ids[k::6]}, shard=shard)
    write(tmp_path / "one", items)
    many, one = LatentStore(tmp_path / "many"), LatentStore(tmp_path / "one")
    assert len(many.parts()) == 6 and many.clip_ids == one.clip_ids == ids
    pairs = np.random.default_rng(0).integers(0, 12, size=(20, 2))
    a = list(BatchLoader(many, pairs, batch_size=8, crop_frames=5, seed=3))
    b = list(BatchLoader(one, pairs, batch_size=8, crop_frames=5, seed=3))
    assert len(a) == 3
    for x, y in zip(a, b):
        for k in ("x1", "x2"):
            assert x[k].shape[1:] == (5, D)
            np.testing.assert_array_equal(x[k].numpy(), y[k].numpy())
    # each crop is a slice of its clip
    ref = BatchLoader(many, pairs[:8], batch_size=8, crop_frames=5, seed=3, shuffle=False)
    batch = next(iter(ref))["x1"].numpy()
    for row, crop in zip(pairs[:8, 0], batch):
        full = items[ids[row]].astype(np.float16).astype(np.float32)
        assert any(np.array_equal(full[t : t + 5], crop) for t in range(len(full) - 4))


def test_same_audio_duplicates_are_harmless_other_audio_refused(tmp_path):
    z = np.ones((3, D))
    write(tmp_path, {"a": z}, shard=(0, 2))
    with StoreWriter(tmp_path, HEADER, (0, 1)) as w:
        w.append("a", z, {"source_sha256": "s1"})
    with pytest.raises(StoreError, match="more than one part, from different audio"):
        LatentStore(tmp_path)  # the first row records no audio identity: cannot tell
    for shard in ((0, 2), (1, 2), (0, 1)):  # two writers of overlapping layouts at once
        with StoreWriter(tmp_path / "b", HEADER, shard) as w:
            w.append("a", z, {"source_sha256": "s1"})
    s = LatentStore(tmp_path / "b")
    assert s.clip_ids == ["a"] and s.n_duplicates == 2


def _verify_fixture(tmp_path, n=6):
    import pandas as pd

    audio = tmp_path / "audio"
    audio.mkdir()
    rows = []
    items = latents(n)
    for cid in items:
        f = audio / f"{cid}.wav"
        f.write_bytes(cid.encode() * 100)
        rows.append((cid, str(f)))
    clips = pd.DataFrame(rows, columns=["clip_id", "audio_path"])
    from mvlib.frontend.store.source import file_sha256, source_stat

    store = tmp_path / "store"
    for i in range(2):
        with StoreWriter(store, HEADER, (i, 2)) as w:
            for cid, path in rows[i::2]:
                meta = {**source_stat(path), "source_sha256": file_sha256(path)}
                w.append(cid, items[cid], meta)
    return store, clips


def test_verify_finds_what_is_wrong_and_names_the_shard_that_redoes_it(tmp_path):
    import pandas as pd

    from mvlib.frontend.store.verify import verify_store

    store, clips = _verify_fixture(tmp_path)
    rep = verify_store(store, clips)
    assert rep.ok and rep.n_live == 6 and rep.n_expected == 6 and rep.commands() == []
    assert "OK: 6 clips of 6 expected in 2 part(s)" in rep.text()
    # one flipped byte in part 1 (clip01's first row), data cut in part 0 (clip04 lost),
    # clip02's audio changed, a new clip06 in the dataset, clip05 removed from it
    p1 = store / "part-001-of-002" / DATA_FILE
    raw = bytearray(p1.read_bytes())
    raw[0] ^= 0xFF
    p1.write_bytes(bytes(raw))
    p0 = store / "part-000-of-002" / DATA_FILE
    with open(p0, "r+b") as f:
        f.truncate(p0.stat().st_size - 2)
    with open(clips.loc[2, "audio_path"], "ab") as f:
        f.write(b"more")
    new = tmp_path / "audio" / "clip06.wav"
    new.write_bytes(b"x")
    extra_row = pd.DataFrame({"clip_id": ["clip06"], "audio_path": [str(new)]})
    table = pd.concat([clips.iloc[:5], extra_row], ignore_index=True)
    rep = verify_store(store, table, data_dir="DATA")
    kinds = {(f.kind, f.clip_id) for f in rep.findings}
    assert {
        ("corrupt-latent", "clip01"),
        ("data-lost", "clip04"),
        ("audio-changed", "clip02"),
        ("missing", "clip06"),
        ("extra", "clip05"),
    } <= kinds
    assert not rep.ok and {f.kind for f in rep.findings if not f.problem} == {"extra"}
    # clip06 is at position 5 of the table: shard 1/2; clip01 needs its bytes re-checked
    assert rep.commands() == [
        f"mvlib extract --data DATA --out {store} --shard 0/2",
        f"mvlib extract --data DATA --out {store} --shard 1/2 --verify",
    ]
    text = rep.text()
    assert "problem: corrupt-latent: 1" in text and "clip 'clip04' part-000-of-002" in text


def test_store_verify_command_exit_codes(tmp_path, capsys):
    from mvlib import cli

    store, _ = _verify_fixture(tmp_path)
    assert cli.main(["store", "verify", str(store)]) == 0
    assert "OK" in capsys.readouterr().out
    with open(store / "part-000-of-002" / DATA_FILE, "r+b") as f:
        f.truncate(4)
    assert cli.main(["store", "verify", str(store)]) == 2
    out = capsys.readouterr().out
    assert "problem: data-lost: 3" in out and "--shard 0/2" in out
    (store / "store.json").write_text("{")
    assert cli.main(["store", "verify", str(store)]) == 2
    assert "problem: header: 1" in capsys.readouterr().out


def test_clip_ids_that_leave_a_folder_are_refused(tmp_path):
    # issue 21: a store's clip ids name files elsewhere (embed outputs), so they stay inside
    from mvlib.data.paths import UnsafeNameError

    with StoreWriter(tmp_path / "s", HEADER) as w:
        for bad in ("../../outside.wav", "/abs/x.wav", "audio/../../x.wav"):
            with pytest.raises(UnsafeNameError, match="clip id"):
                w.append(bad, np.zeros((2, D), np.float32))
        w.append("sub/ok.wav", np.ones((2, D), np.float32))
    assert LatentStore(tmp_path / "s").clip_ids == ["sub/ok.wav"]


def test_crop_longer_than_a_clip_names_the_clip_and_the_fix(tmp_path):
    # issue 20: clips shorter than train.crop_frames: one line naming them, not a traceback
    from mvlib.core.errors import format_error
    from mvlib.frontend.store.reader import ClipTooShortError

    write(tmp_path / "s", latents(3))  # 5, 7 and 3 frames
    store = LatentStore(tmp_path / "s")
    with pytest.raises(ClipTooShortError) as err:
        store.get_batch([0, 1, 2], crop_frames=6)
    line = format_error(err.value)
    assert "\n" not in line and line.startswith("mvlib: error: clip(s) clip00 (5 frames)")
    assert "clip02 (3 frames)" in line and "clip01" not in line
    assert "lower train.crop_frames to at most 3" in line
    assert store.get_batch([0, 1, 2], crop_frames=3).shape == (3, 3, D)
