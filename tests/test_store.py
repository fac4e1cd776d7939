"""The memory-mapped latent store: commits, crash repair, headers, shards, reading."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from mvlib.store import (
    DATA_FILE,
    INDEX_FILE,
    LatentStore,
    StoreError,
    StoreMismatchError,
    StoreWriter,
    part_name,
)

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
    with pytest.raises(ValueError, match="exceeds"):
        s.get_batch([0, 1], crop_frames=8)
    assert s.get_batch([0], crop_frames=None).shape == (1, 6, D)


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
    with pytest.raises(StoreError, match="another process is writing this part"):
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
    from mvlib.store import LatentStore, StoreWriter, feature_statistics

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
    from mvlib.store import LatentStore, StoreWriter

    with StoreWriter(tmp_path / "s", {"identity": {"frontend": "logmel"}, "dim": 2}) as w:
        for c in ("b", "a", "c"):
            w.append(c, np.zeros((3, 2), np.float16), {})
    s = LatentStore(tmp_path / "s")
    np.testing.assert_array_equal(s.rows(["c", "a"]), [2, 0])
    with pytest.raises(KeyError, match=r"1 clip\(s\) are not in the latent store.*'zz'"):
        s.rows(["a", "zz"])
