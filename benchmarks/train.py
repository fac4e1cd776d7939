"""Training input pipeline: the memory-mapped latent store against one ``.npy`` per clip.

Measured side by side in one run on the same clips and the same pairs:

(a) pairs/s of :class:`mvlib.ml.batches.BatchLoader` reading crops from the latent store;
(b) pairs/s of a naive loader that ``np.load``s each clip's own ``.npy`` file, then crops;

and the peak resident memory of a process that streams batches from a store of N clips
and from one of 10·N clips (goal: flat, since nothing loads the store whole).

    python benchmarks/train.py --clips 400 --frames 430 --dim 128
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mvlib.frontend.store.reader import LatentStore
from mvlib.frontend.store.writer import StoreWriter
from mvlib.ml.batches import BatchLoader


def make_store(path: Path, n: int, frames: int, dim: int, npy_dir: Path | None = None) -> None:
    rng = np.random.default_rng(0)
    header = {
        "identity": {"frontend": "logmel", "n_mels": dim},
        "dim": dim,
        "provenance": {"dataset": "benchmark"},
    }
    with StoreWriter(path, header) as w:
        for i in range(n):
            x = rng.normal(size=(frames, dim)).astype(np.float16)
            w.append(f"c{i:06d}", x, {})
            if npy_dir is not None:
                np.save(npy_dir / f"c{i:06d}.npy", x)


def naive_batches(
    npy_dir: Path, ids: list[str], pairs: np.ndarray, batch: int, crop: int, seed: int
):
    """One np.load per clip and view, random crop, stacked: what a per-file Dataset does."""
    rng = np.random.default_rng(seed)
    for b in range(0, len(pairs), batch):
        views = []
        for v in range(2):
            out = []
            for r in pairs[b : b + batch, v]:
                x = np.load(npy_dir / f"{ids[r]}.npy")
                s = int(rng.integers(0, len(x) - crop + 1))
                out.append(x[s : s + crop].astype(np.float32))
            views.append(torch.from_numpy(np.stack(out)))  # (B, T, D)
        yield {"x1": views[0], "x2": views[1]}


def pairs_per_second(batches, n_pairs: int) -> float:
    t0 = time.perf_counter()
    for _ in batches:
        pass
    return n_pairs / (time.perf_counter() - t0)


def _anon_mib() -> float:
    """Anonymous (heap) resident memory: what a process owns, page-cache-backed maps aside."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(store: str, n_pairs: int, batch: int, crop: int) -> None:
    """Stream ``n_pairs`` random pairs from a store; print peak memory (MiB) as JSON.

    Peak RSS counts the store's pages the memmap touched (file-backed, reclaimable page
    cache); peak anonymous RSS is the memory the process itself holds.
    """
    import resource

    s = LatentStore(store)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(s), size=(n_pairs, 2))
    anon = 0.0
    for _ in BatchLoader(s, pairs, batch_size=batch, crop_frames=crop, seed=0):
        anon = max(anon, _anon_mib())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mib": peak, "peak_anon_mib": anon}))


def peak_rss(store: Path, n_pairs: int, batch: int, crop: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            str(store),
            "--pairs",
            str(n_pairs),
            "--batch-size",
            str(batch),
            "--crop",
            str(crop),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=400)
    ap.add_argument("--frames", type=int, default=430, help="frames per clip (5 s at hop 512)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.pairs, args.batch_size, args.crop)
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "npy").mkdir()
        make_store(tmp / "store", args.clips, args.frames, args.dim, tmp / "npy")
        store = LatentStore(tmp / "store")
        pairs = np.random.default_rng(1).integers(0, len(store), size=(args.pairs, 2))
        # warm the page cache for both layouts, then measure each twice, interleaved
        for _ in naive_batches(
            tmp / "npy", store.clip_ids, pairs[:256], args.batch_size, args.crop, 0
        ):
            pass
        fast, slow = [], []
        for rep in range(2):
            loader = BatchLoader(
                store, pairs, batch_size=args.batch_size, crop_frames=args.crop, seed=rep
            )
            fast.append(pairs_per_second(loader, len(pairs)))
            slow.append(
                pairs_per_second(
                    naive_batches(
                        tmp / "npy", store.clip_ids, pairs, args.batch_size, args.crop, rep
                    ),
                    len(pairs),
                )
            )
        a, b = max(fast), max(slow)
        print(
            f"clips {args.clips} × {args.frames} frames × {args.dim} dims, batch {args.batch_size}, "
            f"crop {args.crop}, {args.pairs} pairs"
        )
        print(f"(a) latent store (memmap) : {a:10.0f} pairs/s")
        print(f"(b) one .npy per clip     : {b:10.0f} pairs/s")
        print(f"ratio (a)/(b)             : {a / b:10.2f}   (goal >= 3)")

        big = tmp / "store10x"
        make_store(big, 10 * args.clips, args.frames, args.dim)
        r1 = peak_rss(tmp / "store", args.pairs, args.batch_size, args.crop)
        r10 = peak_rss(big, args.pairs, args.batch_size, args.crop)
        size1 = args.clips * args.frames * args.dim * 2 / 2**20
        for n, size, r in ((args.clips, size1, r1), (10 * args.clips, 10 * size1, r10)):
            print(
                f"store of {n:6d} clips ({size:7.1f} MiB): peak RSS {r['peak_rss_mib']:7.1f} MiB, "
                f"peak anonymous {r['peak_anon_mib']:7.1f} MiB"
            )
        print(
            f"10x store / 1x store: anonymous memory ratio "
            f"{r10['peak_anon_mib'] / r1['peak_anon_mib']:.2f} (goal: flat, ~1); peak RSS ratio "
            f"{r10['peak_rss_mib'] / r1['peak_rss_mib']:.2f} (includes touched page cache)"
        )


if __name__ == "__main__":
    main()
