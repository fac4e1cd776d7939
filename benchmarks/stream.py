"""Training that streams: pairs from a latent store at 1x, 10x and 100x size, side by side
with the memmap loader of mvlib before stores had parts and checksums (commit f762bea).

For each size a synthetic store is written without extraction (random float16 latents at 1x
and 10x; at 100x a *sparse* data file, so its size costs no disk and reads are zero pages:
it measures the index and the loader, not the disk). Every store has ``--parts`` parts, as
a sharded extraction makes. Then each loader streams the same random pairs (uniform over
the whole store, random crops) in a fresh subprocess, twice, interleaved; the table shows the
better run of each:

- pairs/s: pairs delivered per second (both views, float32 tensors), after opening the store;
- open s: time to open the store (read its index);
- peak anon MiB: the process's peak anonymous memory (``RssAnon`` of /proc/self/status,
  sampled every 5 ms and after every batch): what the process owns, the memory-mapped
  latents (file-backed page cache) aside; "over torch" subtracts the same process's
  ``RssAnon`` after importing torch and numpy, before opening the store;
- ratio: pairs/s of the current loader / the reference loader.

Usage (the lead's full run; this machine: small sizes)::

    python benchmarks/stream.py --clips 2000 --frames 431 --dim 128 --parts 4
    python benchmarks/stream.py --clips 200 --pairs 2048        # a quick check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- the stores


def write_store(path: Path, n_clips: int, frames: int, dim: int, parts: int, sparse: bool):
    """A store of ``n_clips`` clips in ``parts`` parts (shard layout 1/parts), format 2,
    written directly (no extraction): headers, index lines with the fields extraction
    writes, and random (or, ``sparse``, absent: a hole) float16 latents."""
    from mvlib.frontend.store.format import FORMAT, FORMAT_VERSION, create_header, part_name

    identity = {"frontend": "logmel", "n_mels": dim, "benchmark": "stream"}
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "dim": dim,
        "dtype": "float16",
        "identity": identity,
        "provenance": {"dataset": f"stream-{n_clips}"},
    }
    path.mkdir(parents=True)
    create_header(path, header)
    rng = np.random.default_rng(0)
    clip_bytes = frames * dim * 2
    zero_crc = zlib.crc32(bytes(clip_bytes))
    for p in range(parts):
        part = path / part_name((p, parts))
        part.mkdir()
        create_header(part, {**header, "shard": [p, parts]}, "part.json")
        ids = range(p, n_clips, parts)
        with open(part / "latents.f16", "wb") as data, open(part / "index.jsonl", "w") as index:
            for k, i in enumerate(ids):
                if sparse:
                    crc = zero_crc
                else:
                    raw = rng.standard_normal((frames, dim)).astype(np.float16).tobytes()
                    data.write(raw)
                    crc = zlib.crc32(raw)
                entry = {
                    "clip_id": f"{i // 1000:04d}_{i:08d}.wav",
                    "uid": f"{p:03d}{k:017x}",
                    "offset": k * frames,
                    "frames": frames,
                    "latent_crc32": crc,
                    "source_file": f"/data/audio/{i // 1000:04d}_{i:08d}.wav",
                    "source_size": 882044,
                    "source_mtime_ns": 1700000000000000000 + i,
                    "source_sha256": f"{i:064x}",
                    "sample_rate": 44100,
                    "loudness_in": -31.5,
                    "gain_db": 7.5,
                }
                index.write(json.dumps(entry, sort_keys=True) + "\n")
            if sparse:
                data.truncate(len(ids) * clip_bytes)  # a hole: no disk, reads as zeros


# --------------------------------------------------------------------------- reference loader


class ReferenceStore:
    """The reading path of f762bea's ``LatentStore`` (the loader before this change), kept
    verbatim in what costs time and memory: a pandas index of every index line with all its
    metadata, a dict of rows, one memmap per part, and a Python loop over rows per batch."""

    def __init__(self, path: Path):
        import pandas as pd

        self.path = Path(path)
        self.dim = json.loads((self.path / "store.json").read_text())["dim"]
        rows, self._part_rows = [], {}
        for part in sorted(p.name for p in self.path.iterdir() if p.name.startswith("part-")):
            raw = (self.path / part / "index.jsonl").read_bytes()
            entries = [json.loads(line) for line in raw.split(b"\n")[:-1]]
            self._part_rows[part] = sum(int(e["frames"]) for e in entries)
            rows += [{**e, "part": part} for e in entries]
        index = pd.DataFrame(rows).sort_values("clip_id", kind="stable").reset_index(drop=True)
        self.index = index
        self.clip_ids = index["clip_id"].astype(str).tolist()
        self.frames = index["frames"].to_numpy(np.int64)
        self._offsets = index["offset"].to_numpy(np.int64)
        self._parts = index["part"].tolist()
        self._row_of = {c: i for i, c in enumerate(self.clip_ids)}
        self._maps: dict[str, np.memmap] = {}

    def __len__(self) -> int:
        return len(self.clip_ids)

    def _map(self, part: str) -> np.memmap:
        if part not in self._maps:
            self._maps[part] = np.memmap(
                self.path / part / "latents.f16",
                dtype="<f2",
                mode="r",
                shape=(self._part_rows[part], self.dim),
            )
        return self._maps[part]

    def get(self, r: int) -> np.ndarray:
        off = self._offsets[r]
        return self._map(self._parts[r])[off : off + self.frames[r]]

    def get_batch(self, rows, crop_frames, rng) -> np.ndarray:
        rs = [int(r) for r in rows]
        frames = self.frames[rs]
        out = np.empty((len(rs), crop_frames, self.dim), np.float32)  # (B, T, D)
        for b, (r, f) in enumerate(zip(rs, frames)):
            start = int(rng.integers(0, f - crop_frames + 1))
            out[b] = self.get(r)[start : start + crop_frames]
        return out


def reference_batches(store: ReferenceStore, pairs: np.ndarray, batch: int, crop: int, seed: int):
    """f762bea's ``BatchLoader.__iter__`` for view pairs."""
    import torch

    rng = np.random.default_rng([seed, 0])
    order = rng.permutation(len(pairs))
    for b in range(math.ceil(len(pairs) / batch)):
        rows = pairs[order[b * batch : (b + 1) * batch]]  # (B, 2)
        out = {}
        for v in range(2):
            arr = store.get_batch(rows[:, v], crop, rng)  # (B, T, D)
            out[f"x{v + 1}"] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        yield out


# --------------------------------------------------------------------------- measuring


def _anon_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakAnon:
    """Samples ``RssAnon`` every 5 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = _anon_mib()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, _anon_mib())

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.sample()
        return self.peak


def child(store: str, loader: str, n_pairs: int, batch: int, crop: int, seed: int) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import torch  # noqa: F401  (imported before the baseline is taken, as in training)

    from mvlib.frontend.store.reader import LatentStore
    from mvlib.ml.batches import BatchLoader

    base = _anon_mib()
    peak = PeakAnon()
    t0 = time.perf_counter()
    s = ReferenceStore(Path(store)) if loader == "reference" else LatentStore(store)
    opened = time.perf_counter() - t0
    pairs = np.random.default_rng(seed).integers(0, len(s), size=(n_pairs, 2))
    if loader == "reference":
        batches = reference_batches(s, pairs, batch, crop, seed)
    else:
        batches = iter(BatchLoader(s, pairs, batch_size=batch, crop_frames=crop, seed=seed))
    t0 = time.perf_counter()
    n = 0
    for b in batches:
        n += len(b["x1"])
        peak.sample()
    seconds = time.perf_counter() - t0
    top = peak.stop()
    print(
        json.dumps(
            {
                "pairs_per_s": n / seconds,
                "open_s": opened,
                "peak_anon_mib": top,
                "anon_over_torch_mib": top - base,
                "clips": len(s),
            }
        )
    )


def measure(store: Path, loader: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", str(store), "--loader", loader]
    cmd += ["--pairs", str(args.pairs), "--batch-size", str(args.batch_size)]
    cmd += ["--crop", str(args.crop)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2000, help="clips at 1x")
    ap.add_argument("--frames", type=int, default=431, help="frames per clip (10 s at hop 1024)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--parts", type=int, default=4, help="parts per store (shards)")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--sparse-from", type=int, default=100, help="sizes >= this are sparse")
    ap.add_argument("--pairs", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write the stores (default: a temp)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--loader", default="current", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.loader, args.pairs, args.batch_size, args.crop, seed=0)
        return

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(
            f"# {args.frames} frames x {args.dim} dims float16 per clip, {args.parts} parts, "
            f"{args.pairs} random pairs, batch {args.batch_size}, crop {args.crop}; "
            f"best of {args.repeats}, each in a fresh process"
        )
        head = (
            f"{'size':>5} {'clips':>9} {'store GiB':>9} {'kind':>6} | {'loader':>9} "
            f"{'pairs/s':>9} {'open s':>7} {'peak anon MiB':>13} {'over torch':>10} | ratio"
        )
        print(head)
        print("-" * len(head))
        for scale in args.scales:
            n = args.clips * scale
            sparse = scale >= args.sparse_from
            store = Path(tmp) / f"x{scale}"
            write_store(store, n, args.frames, args.dim, args.parts, sparse)
            gib = n * args.frames * args.dim * 2 / 2**30
            runs: dict[str, list[dict]] = {"reference": [], "current": []}
            for _ in range(args.repeats):
                for loader in runs:  # interleaved: the same page-cache state for both
                    runs[loader].append(measure(store, loader, args))
            best = {k: max(v, key=lambda r: r["pairs_per_s"]) for k, v in runs.items()}
            ratio = best["current"]["pairs_per_s"] / best["reference"]["pairs_per_s"]
            for loader, r in best.items():
                peak = statistics.median(x["peak_anon_mib"] for x in runs[loader])
                over = statistics.median(x["anon_over_torch_mib"] for x in runs[loader])
                print(
                    f"{scale:>4}x {n:>9} {gib:>9.2f} {'sparse' if sparse else 'real':>6} | "
                    f"{loader:>9} {r['pairs_per_s']:>9.0f} {r['open_s']:>7.2f} {peak:>13.1f} "
                    f"{over:>10.1f} | " + (f"{ratio:.2f}" if loader == "current" else "")
                )
            for part in store.iterdir():  # free the disk before the next size
                if part.is_dir():
                    for f in part.iterdir():
                        f.unlink()


if __name__ == "__main__":
    main()
