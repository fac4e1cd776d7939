"""Resumable, shardable feature extraction: audio files -> a :mod:`mvlib.frontend.store` latent store.

One call extracts shard ``i`` of ``N`` (clips whose position in the table, after the optional
``max_clips`` subset, is ``i`` mod ``N``), skipping clips the store already holds in any part
(of any shard layout) from the same audio, so a killed run resumes where it stopped, ``N``
machines (a Slurm array, torchrun ranks) share a dataset, and a worker that died is rerun
alone. A clip whose audio changed (size or mtime, then content hash; with ``verify`` always
the hash, and the latent bytes' checksum) has its old row retired and is extracted again; a
clip whose latents were lost from a truncated part is redone. Writers of one part take its
lock: a second one waits, then reuses what the first wrote. Three stages overlap:
a thread pool does the file I/O (read, hash, decode, downmix; libsndfile and hashlib release
the GIL); the main thread preprocesses batches of equal-length clips on the frontend's device
(resampling, BS.1770 loudness: :func:`mvlib.frontend.preprocess.preprocess_batch`) and runs the frontend
on them; one writer thread commits results (fsync).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import time
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # text bars on stderr: widget bars would freeze at 0% in the built book

from mvlib.core.cache import cache_dir
from mvlib.core.config import FeatureConfig, to_dict
from mvlib.core.version import __version__
from mvlib.frontend.audio import BadAudioError, load_audio, mono_downmix
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.interface import Frontend
from mvlib.frontend.preprocess import n_frames, preprocess_batch
from mvlib.frontend.store.format import (
    DATA_FILE,
    DTYPE,
    StoreError,
    check_part,
    entry_uid,
    full_header,
    header_differences,
    iter_index,
    list_parts,
    part_name,
    read_header,
    read_retired,
)
from mvlib.frontend.store.source import SOURCE_KEYS, audio_changed, source_stat
from mvlib.frontend.store.writer import StoreWriter


@dataclass
class ExtractReport:
    """What one :func:`extract` call did.

    Attributes
    ----------
    n_done : int
        Clips extracted and committed by this call.
    n_skipped_existing : int
        Clips of this shard already in the store (resumed or finished before).
    bad : list of dict
        Clips rejected for bad audio: ``clip_id``, ``path``, ``reason``.
    seconds : float
        Wall time of the call.
    retired : list of dict
        Rows superseded by this call (``clip_id``, ``part``, ``reason``: audio changed,
        latents lost or corrupt, duplicate); their clips are extracted again.
    """

    n_done: int = 0
    n_skipped_existing: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    n_shard: int = 0  #: clips assigned to this shard
    shard: tuple[int, int] = (0, 1)
    store_dir: str = ""
    retired: list[dict[str, str]] = field(default_factory=list)

    def summary(self, limit: int = 5) -> str:
        """For people: one line, then the first ``limit`` skipped and redone clips, named."""
        i, n = self.shard
        if self.n_done == 0 and not self.bad and self.n_skipped_existing == self.n_shard:
            return (
                f"shard {i}/{n}: nothing to do, all {self.n_shard} clips are already in "
                f"{self.store_dir}"
            )
        redone = f" ({len(self.retired)} redone)" if self.retired else ""
        lines = [
            f"shard {i}/{n}: {self.n_done} clips extracted{redone}, {self.n_skipped_existing} "
            f"already in the store, {len(self.bad)} skipped as bad audio, in "
            f"{self.seconds:.1f} s -> {self.store_dir}"
        ]
        for what, items in (("redone", self.retired), ("skipped", self.bad)):
            for b in items[:limit]:
                lines.append(f"  {what} {b['clip_id']!r}: {b['reason']}")
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more {what}")
        if self.bad:
            where = Path(self.store_dir) / part_name(self.shard) / "bad.jsonl"
            lines.append(f"  {len(self.bad)} skipped clip(s) in all, listed in {where}")
        return "\n".join(lines)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)``, with ``0 <= i < N``."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"shard {text!r}: expected 'i/N', e.g. '0/4'")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {text!r}: need N >= 1 and 0 <= i < N")
    return i, n


def store_tag(dataset_name: str, frontend: Frontend) -> str:
    """Folder-safe name of a dataset's store for a frontend: ``<dataset>-<frontend.tag>``."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", dataset_name):
        raise ValueError(f"dataset name {dataset_name!r}: use letters, digits, '.', '_', '-'")
    return f"{dataset_name}-{frontend.tag}"


def default_store_dir(dataset_name: str, frontend: Frontend) -> Path:
    """``<cache>/latents/<dataset>/<frontend.tag>``."""
    store_tag(dataset_name, frontend)  # validates the name
    return cache_dir("latents", dataset_name, frontend.tag)


def shard_clips(clips: pd.DataFrame, shard: tuple[int, int], max_clips: int | None) -> pd.DataFrame:
    """The rows of shard ``(i, N)``: position % N == i, after taking the first max_clips."""
    missing = {"clip_id", "audio_path"} - set(clips.columns)
    if missing:
        raise ValueError(
            f"clips table lacks column(s) {sorted(missing)}; has {list(clips.columns)}"
        )
    ids = clips["clip_id"].astype(str)
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise ValueError(f"clips table: duplicate clip_id values {dup[:10]}")
    i, n = shard
    assert n >= 1 and 0 <= i < n, f"shard {i}/{n}: need 0 <= i < N"
    sub = clips.iloc[: max_clips if max_clips is not None else len(clips)]
    return sub.iloc[i::n]


def _prepare_clip(path: str, cfg: FeatureConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """The file's cheap identity (size, mtime: taken before reading), then :func:`_prepare`."""
    try:
        stat = source_stat(path)
    except OSError:
        stat = {}  # _prepare names the error
    x, meta = _prepare(path, cfg)
    return x, {**meta, **stat}


def _prepare(path: str, cfg: FeatureConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """File I/O of one clip: read once (hash + decode from memory), check, downmix.

    Returns the mono samples ``np.ndarray[N]`` float32 at the file's rate and the meta
    (``source_file``, ``source_sha256``, ``source_sample_rate``, ``source_channels``);
    preprocessing happens batched on the device (:func:`mvlib.frontend.preprocess.preprocess_batch`).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise BadAudioError(path, f"unreadable ({e.strerror or e})") from e
    wave, sr = load_audio(path, data=raw)
    meta = {
        "source_file": str(path),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "source_sample_rate": int(sr),
        "source_channels": int(wave.shape[0]),
    }
    return mono_downmix(wave), meta


def extract(
    clips: pd.DataFrame,
    store_dir: str | os.PathLike,
    cfg: FeatureConfig,
    provenance: dict[str, Any] | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    workers: int | None = None,
    frontend: Frontend | None = None,
    processes: bool | None = None,
    verify: bool = False,
) -> ExtractReport:
    """Extract features of one shard of ``clips`` into the store at ``store_dir``.

    Parameters
    ----------
    clips : pd.DataFrame
        Columns ``clip_id``, ``audio_path`` (as from ``mvlib.data.sonyc.load_clips``).
    store_dir : str or PathLike
        The store (created, or resumed if it exists with the same frontend identity).
    cfg : FeatureConfig
        Frontend, preprocessing, ``max_clips``, ``batch_size``, ``device``, ``on_bad_audio``.
    provenance : dict, optional
        Saved in the header of a new store (e.g. ``{"dataset": name}``); mvlib version and
        the feature config are added.
    shard : (int, int)
        ``(i, N)``: this call extracts the clips at positions ``i, i + N, ...``.
    progress : bool
        Show a tqdm bar (clips/s, ETA) and print the summary.
    workers : int, optional
        Preprocessing workers (default: 4 threads, or up to 8 processes).
    frontend : Frontend, optional
        A frontend already built from ``cfg`` (saves rebuilding it).
    processes : bool, optional
        Do the file I/O in worker processes rather than threads (default: threads; the
        workers only read, hash and decode, which release the GIL, and processes cost ~5 s
        to start: each imports torch).
    verify : bool
        Also check the content hash of every clip's audio (not only its size and mtime) and
        the checksum of its latent bytes; mismatches are retired and extracted again.

    Returns
    -------
    ExtractReport

    Raises
    ------
    BadAudioError
        With ``on_bad_audio="fail"``, on the first bad clip (named); clips committed before
        stay committed.
    """
    t0 = time.perf_counter()
    mine = shard_clips(clips, shard, cfg.max_clips)
    frontend = frontend if frontend is not None else make_frontend(cfg)
    header = _store_header(frontend, cfg, provenance)
    report = ExtractReport(n_shard=len(mine), shard=tuple(shard), store_dir=str(store_dir))
    if not verify and _header_ok(store_dir, header) and _plan(store_dir, header, mine) == ([], []):
        # read-only fast path: several runs (the sweep's workers) may check one finished store
        # at once, and only one process may hold a part's writer lock
        report.n_skipped_existing = len(mine)
        return _finish(report, t0, progress)
    with StoreWriter(store_dir, header, shard) as writer:  # waits for another writer
        # planned again under the lock: what a writer we waited for committed is reused
        todo, stale = _plan(store_dir, header, mine, verify)
        for part, uid, cid, reason in stale:  # retired before redoing: never two rows
            writer.retire(part, uid, cid, reason)
            report.retired.append({"clip_id": cid, "part": part, "reason": reason})
        report.n_skipped_existing = len(mine) - len(todo)
        if todo:
            procs = bool(processes)
            n = _n_workers(workers, procs)
            _run(todo, frontend, writer, cfg, report, progress, n, procs)
    return _finish(report, t0, progress)


def _store_header(
    frontend: Frontend, cfg: FeatureConfig, provenance: dict[str, Any] | None
) -> dict[str, Any]:
    """The store header: frontend identity, dim, and provenance (mvlib version, config, given)."""
    prov = {"mvlib_version": __version__, "features_config": to_dict(cfg)}
    return {
        "identity": frontend.identity,
        "dim": frontend.dim,
        "provenance": {**prov, **(provenance or {})},
    }


def _n_workers(workers: int | None, processes: bool) -> int:
    """How many file I/O workers: ``workers``, else 4 threads or up to 8 processes."""
    # the workers only do file I/O (preprocessing runs batched on the device):
    # threads suffice, processes only when asked for
    n_cpu = os.cpu_count() or 1
    return workers or (max(1, min(8, n_cpu - 2)) if processes else min(4, n_cpu))


def _finish(report: ExtractReport, t0: float, progress: bool) -> ExtractReport:
    """Stamp the report's wall time since ``t0``, print its summary if ``progress``, return it."""
    report.seconds = time.perf_counter() - t0
    if progress:
        print(report.summary())
    return report


def _header_ok(store_dir, header: dict) -> bool:
    """Whether ``store.json`` exists and agrees with ``header`` (else the writer rewrites it,
    or raises the mismatch with its full message)."""
    try:
        return not header_differences(read_header(store_dir), full_header(header))
    except StoreError:
        return False


def _plan(
    store_dir, header: dict, mine: pd.DataFrame, verify: bool = False
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str, str]]]:
    """What this shard must extract, and which rows to retire first.

    Reads every part of the store (any shard layout), never the latents unless ``verify``.
    A clip of ``mine`` is done when one live row of it comes from its current audio (and,
    with ``verify``, its latent bytes match their checksum). Other rows of the clip (audio
    changed, corrupt, duplicates, latents lost from a truncated part) are to be retired.

    Returns
    -------
    todo : [(clip_id, audio_path)]
    stale : [(part, uid, clip_id, reason)]
    """
    path = Path(store_dir)
    want = full_header(header)
    row_bytes = int(want["dim"]) * DTYPE.itemsize
    wanted = set(mine["clip_id"].astype(str))
    keep = ("latent_crc32", *SOURCE_KEYS)
    rows: dict[str, list[tuple[str, dict[str, Any], str]]] = {}
    for part in list_parts(path):
        part_dir = path / part
        data_f = part_dir / DATA_FILE
        data_bytes = data_f.stat().st_size if data_f.exists() else 0
        retired = read_retired(part_dir)
        check_part(path, part, want)
        mm = None
        # streamed: only this shard's clips are kept (a store may hold millions)
        for e, _ in iter_index(part_dir, keep):
            cid = str(e["clip_id"])
            if cid not in wanted or entry_uid(e) in retired:
                continue
            a, n = e["offset"] * row_bytes, int(e["frames"]) * row_bytes
            why = "latents lost (data file truncated)" if a + n > data_bytes else ""
            if verify and not why and "latent_crc32" in e:
                if mm is None:
                    mm = np.memmap(data_f, dtype=np.uint8, mode="r")
                if zlib.crc32(mm[a : a + n]) != e["latent_crc32"]:
                    why = "latent bytes corrupt (checksum differs)"
            rows.setdefault(cid, []).append((part, e, why))
        del mm
    todo, stale = [], []
    for cid, audio in zip(mine["clip_id"].astype(str), mine["audio_path"].astype(str)):
        good = False
        for part, e, why in rows.get(cid, []):
            why = why or audio_changed(e, audio, full=verify)
            if not why and good:
                why = "duplicate row"
            if why:
                stale.append((part, entry_uid(e), cid, why))
            good = good or not why
        if not good:
            todo.append((cid, audio))
    return todo, stale


def _run(
    todo: list[tuple[str, str]],
    frontend: Frontend,
    writer: StoreWriter,
    cfg: FeatureConfig,
    report: ExtractReport,
    progress: bool,
    workers: int,
    processes: bool,
) -> None:
    """The overlapped pipeline: prefetch pool -> batched frontend -> writer thread."""
    common = _common_meta(frontend, cfg)
    bar = tqdm(total=len(todo), unit="clip", desc=f"extract {frontend.name}", disable=not progress)
    pool = _make_pool(workers, processes)
    saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mvlib-store")
    sink = _Sink(frontend, writer, saver, cfg, report, bar, common)
    try:
        _feed(todo, pool, cfg, workers, sink)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        saver.shutdown(wait=True)  # everything handed to the writer gets committed
        bar.close()
    sink.check_written()


def _common_meta(frontend: Frontend, cfg: FeatureConfig) -> dict[str, Any]:
    """Meta stored with every clip: frontend rate, loudness target, weights (when stated)."""
    ident = frontend.identity
    return {
        "sample_rate": frontend.sample_rate,
        "loudness_lufs": cfg.loudness_lufs,
        # a plugin frontend need not have weights: only what its identity states is recorded
        **{k: ident[k] for k in ("weights", "weights_sha256") if k in ident},
    }


def _make_pool(workers: int, processes: bool) -> ProcessPoolExecutor | ThreadPoolExecutor:
    """The file I/O pool: ``workers`` threads, or forkserver processes if ``processes``."""
    if processes:
        # forkserver: workers start from a clean process (no CUDA, no threads) that has
        # imported mvlib.frontend.extract once
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mvlib.frontend.extract"])
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mvlib-prep")


def _feed(
    todo: list[tuple[str, str]],
    pool: ProcessPoolExecutor | ThreadPoolExecutor,
    cfg: FeatureConfig,
    workers: int,
    sink: _Sink,
) -> None:
    """Prefetch clips through ``pool``, bucket them by (rate, length), commit full batches."""
    pending: deque[tuple[str, str, Future]] = deque()
    queue = iter(todo)
    lookahead = 2 * cfg.batch_size + workers
    buckets: dict[tuple[int, int], list[tuple[str, str, np.ndarray, dict[str, Any]]]] = {}
    while True:
        while len(pending) < lookahead and (item := next(queue, None)) is not None:
            pending.append((*item, pool.submit(_prepare_clip, item[1], cfg)))
        if not pending:
            break
        cid, path, fut = pending.popleft()
        try:
            mono, meta = fut.result()
        except BadAudioError as e:
            sink.reject(cid, e.path, e.reason, e)
            continue
        key = (meta["source_sample_rate"], len(mono))  # equal after preprocessing too
        bucket = buckets.setdefault(key, [])
        bucket.append((cid, path, mono, meta))
        if len(bucket) == cfg.batch_size:
            sink.commit(buckets.pop(key))
    for length in sorted(buckets):  # the leftovers, shorter batches
        sink.commit(buckets.pop(length))


class _Sink:
    """Where prepared clips go: batched frontend, then one writer thread (in order), or bad."""

    def __init__(
        self,
        frontend: Frontend,
        writer: StoreWriter,
        saver: ThreadPoolExecutor,
        cfg: FeatureConfig,
        report: ExtractReport,
        bar: tqdm,
        common: dict[str, Any],
    ) -> None:
        """Hold the pipeline's frontend, store writer, writer thread, config, report and bar."""
        self.frontend, self.writer, self.saver = frontend, writer, saver
        self.cfg, self.report, self.bar, self.common = cfg, report, bar, common
        self.last_write: list[Future] = []

    def write(self, fn, *args) -> None:
        """Hand ``fn(*args)`` to the writer thread, re-raising errors of finished writes."""
        # one writer thread keeps commits in order; re-raise its errors here
        while self.last_write and self.last_write[0].done():
            self.last_write.pop(0).result()
        self.last_write.append(self.saver.submit(fn, *args))

    def check_written(self) -> None:
        """Re-raise the error of any write not yet checked."""
        for f in self.last_write:
            f.result()

    def reject(self, cid: str, path: str, reason: str, cause: Exception | None = None) -> None:
        """A bad clip: raise with ``on_bad_audio="fail"``, else record it as skipped."""
        if self.cfg.on_bad_audio == "fail":
            err = BadAudioError(path, f"clip {cid!r}: {reason}")
            err.clip_id = cid
            raise err from cause
        self.report.bad.append({"clip_id": cid, "path": path, "reason": reason})
        self.write(self.writer.record_bad, cid, path, reason)
        self.bar.update(1)

    def commit(self, batch: list[tuple[str, str, np.ndarray, dict[str, Any]]]) -> None:
        """Preprocess a batch on the device, run the frontend, hand the latents to the writer."""
        frontend = self.frontend
        x, infos = self._preprocess(batch)
        keep = []
        for i, ((cid, path, _, _), info) in enumerate(zip(batch, infos)):
            if isinstance(info, str):
                self.reject(cid, path, info)
            else:
                keep.append(i)
        if not keep:
            return
        batch = [(batch[i][0], None, {**batch[i][3], **infos[i]}) for i in keep]
        x = x[keep][:, None] if len(keep) < len(infos) else x[:, None]  # (B', 1, N')
        z = frontend(x).float().cpu().numpy()  # (B', T, D)
        for (cid, _, meta), zb in zip(batch, z):
            self.write(
                self.writer.append,
                cid,
                zb[: n_frames(meta["samples"], frontend.hop)],
                {**meta, **self.common},
            )
        self.report.n_done += len(batch)
        self.bar.update(len(batch))

    def _preprocess(self, batch: list[tuple[str, str, np.ndarray, dict[str, Any]]]):
        """Resample, loudness, peak, pad on the frontend's device: ``(x (B, N'), infos)``."""
        # preprocessing on the frontend's device, batched (resample, loudness, peak, pad)
        mono = torch.from_numpy(np.stack([b[2] for b in batch]))  # (B, N) at the file rate
        if self.frontend.device.type == "cuda":
            mono = mono.pin_memory().to(self.frontend.device, non_blocking=True)
        sr = batch[0][3]["source_sample_rate"]
        chans = [b[3]["source_channels"] for b in batch]
        with torch.inference_mode():
            return preprocess_batch(mono, sr, self.cfg, chans)  # (B, N')
