"""Writing a latent store: one writer per part, its commit protocol and crash repair.

Commit protocol: a clip's latent bytes are appended to ``latents.f16`` and fsynced *before*
its index line (clip_id, uid, offset, frames, crc, meta) is appended and fsynced. A clip
exists only once its index line is complete, so a crash leaves at most a torn last index line
and uncommitted trailing data bytes; :class:`StoreWriter` truncates both on open. A row is
superseded by appending its uid to ``retired.jsonl`` *before* the clip is extracted again, so
a crash in between leaves the clip missing (redone by the next run), never two rows of one
clip. Writers of one part take its file lock: a second one waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from mvlib.core import ownedlock
from mvlib.core.cache import atomic_write_text
from mvlib.data.paths import safe_member_name
from mvlib.frontend.store.format import (
    BAD_FILE,
    CHECKED_KEYS,
    DATA_FILE,
    DTYPE,
    HEADER_FILE,
    HOLDER_FILE,
    INDEX_FILE,
    LOCK_FILE,
    PART_HEADER_FILE,
    StoreError,
    StoreMismatchError,
    check_part,
    create_header,
    entry_uid,
    full_header,
    header_differences,
    iter_lines,
    list_parts,
    part_name,
    read_header,
    read_index,
    read_part_header,
    read_retired,
    retire,
)

log = logging.getLogger(__name__)


class StoreWriter:
    """Appends clips to one part of a store; repairs a crashed or truncated part on open.

    Parameters
    ----------
    path : str or PathLike
        The store folder (created if needed).
    header : dict
        ``identity`` (the frontend's), ``dim``, optionally ``provenance`` (dataset name,
        mvlib version, config). Written to ``store.json`` if absent and to the part's own
        ``part.json``; checked against both and against every other part's header.
    shard : (int, int)
        ``(i, n)``: this writer owns the folder ``part-i-of-n``.
    timeout : float, optional
        Seconds to wait for another process writing this part (None: wait as long as it
        takes; 0: do not wait).

    Raises
    ------
    StoreMismatchError
        The store or one of its parts was made with another frontend, weights, dim, ....
    StoreError
        The part stayed busy for ``timeout`` seconds, or is corrupt beyond a torn tail.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: dict[str, Any],
        shard: tuple[int, int] = (0, 1),
        timeout: float | None = None,
    ):
        self.path = Path(path)
        self.shard = (int(shard[0]), int(shard[1]))
        self.part_dir = self.path / part_name(self.shard)
        want = full_header(header)
        self.dim = int(want["dim"])
        # every part's own settings first: store.json may be absent or rewritten
        self.path.mkdir(parents=True, exist_ok=True)
        for name in list_parts(self.path):
            check_part(self.path, name, want)
        create_header(self.path, want)
        self.header = read_header(self.path)
        diffs = header_differences(self.header, want)
        if diffs:
            raise StoreMismatchError(
                self.path / HEADER_FILE,
                "store was made with different settings; refusing to mix. " + "; ".join(diffs),
                "use another store folder",
            )
        self.part_dir.mkdir(exist_ok=True)
        self._lock = contextlib.ExitStack()
        self._acquire(timeout)
        try:
            check_part(self.path, self.part_dir.name, want)
            if read_part_header(self.part_dir) is None:
                part_header = {k: want[k] for k in (*CHECKED_KEYS, "identity")}
                part_header["shard"] = list(self.shard)
                part_header["provenance"] = {"dataset": want["provenance"].get("dataset")}
                create_header(self.part_dir, part_header, PART_HEADER_FILE)
            entries, self.repaired = self._repair()
        except BaseException:
            self._lock.close()
            raise
        self.retired = read_retired(self.part_dir)
        live = [e for e in entries if entry_uid(e) not in self.retired]
        self.done: set[str] = {e["clip_id"] for e in live}
        self.rows = sum(int(e["frames"]) for e in entries)
        self._data = open(self.part_dir / DATA_FILE, "ab")
        self._index = open(self.part_dir / INDEX_FILE, "ab")
        self.bad: dict[str, dict[str, Any]] = self._read_bad()

    def _acquire(self, timeout: float | None) -> None:
        """Take the part's lock (:mod:`mvlib.core.ownedlock`; its holder is named)."""

        def waiting(info):
            log.warning(
                "%s: a writer (%s) is already writing this part; waiting for it",
                self.part_dir,
                ownedlock.describe(info),
            )

        try:
            self._lock.enter_context(
                ownedlock.owned_lock(
                    self.part_dir / LOCK_FILE,
                    self.part_dir / HOLDER_FILE,
                    wait=True,
                    timeout=timeout,
                    on_wait=waiting,
                    reentrant=False,
                )
            )
        except ownedlock.LockBusy as busy:
            raise StoreError(
                self.part_dir,
                f"a writer ({ownedlock.describe(busy.holder)}) is already writing this part "
                f"(waited {timeout:g} s)",
                "wait for it to finish, then run again: its clips are reused",
            ) from None

    def _repair(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Truncate a torn index line and uncommitted data bytes left by a crash; drop the
        index lines of clips whose data was lost (a truncated data file): they are redone."""
        entries, good = read_index(self.part_dir)
        index_f, data_f = self.part_dir / INDEX_FILE, self.part_dir / DATA_FILE
        index_f.touch()
        data_f.touch()
        have_index, have_data = index_f.stat().st_size, data_f.stat().st_size
        row_bytes = self.dim * DTYPE.itemsize
        kept = [e for e in entries if (e["offset"] + int(e["frames"])) * row_bytes <= have_data]
        lost = entries[len(kept) :]
        if lost:
            # the kept lines are the index's first len(kept) lines, byte for byte
            with open(index_f, "rb") as fh:
                keep_index = sum(len(fh.readline()) for _ in kept)
            log.warning(
                "%s: %d bytes hold %d of %d committed clips; %d clip(s) lost (%s) are "
                "dropped from the index and will be extracted again",
                data_f,
                have_data,
                len(kept),
                len(entries),
                len(lost),
                ", ".join(e["clip_id"] for e in lost[:5]),
            )
            good = keep_index
        want = sum(int(e["frames"]) for e in kept) * row_bytes
        for f, size, keep in ((index_f, have_index, good), (data_f, have_data, want)):
            if size > keep:
                with open(f, "r+b") as fh:
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
        return kept, {
            "index_bytes": have_index - good,
            "data_bytes": have_data - want,
            "lost_clips": len(lost),
        }

    def _read_bad(self) -> dict[str, dict[str, Any]]:
        out = {}
        for _, line, complete in iter_lines(self.part_dir / BAD_FILE):
            if complete and line.strip():
                e = json.loads(line)
                out[e["clip_id"]] = e
        return out

    def append(self, clip_id: str, latent: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        """Commit one clip: data written and fsynced, then its index line, then fsynced.

        Parameters
        ----------
        clip_id : str
            Unique among the store's live rows.
        latent : np.ndarray[T x D]
            Stored as float16 (must stay finite).
        meta : dict, optional
            JSON-serialisable per-clip facts (source file and its identity: ``source_size``,
            ``source_mtime_ns``, ``source_sha256``; loudness, ...).
        """
        # a clip id names files elsewhere (embed outputs, labels): it must stay inside a folder
        clip_id = safe_member_name(str(clip_id), self.part_dir, "clip id")
        assert clip_id not in self.done, f"clip {clip_id!r} is already in {self.part_dir}"
        assert self._data is not None, "StoreWriter is closed"
        latent = np.asarray(latent)
        assert (
            latent.ndim == 2 and latent.shape[0] > 0 and latent.shape[1] == self.dim
        ), f"clip {clip_id!r}: expected latent[T x {self.dim}], got {latent.shape}"
        with np.errstate(over="ignore"):  # overflow is reported just below, naming the clip
            data = np.ascontiguousarray(latent, dtype=DTYPE)
        if not np.isfinite(data).all():
            raise ValueError(f"clip {clip_id!r}: latent has NaN/inf (or overflows float16)")
        raw = data.tobytes()
        self._data.write(raw)
        self._data.flush()
        os.fsync(self._data.fileno())
        entry = {
            **(meta or {}),
            "clip_id": clip_id,
            "uid": self._new_uid(clip_id, raw),
            "offset": self.rows,
            "frames": len(data),
            "latent_crc32": zlib.crc32(raw),
        }
        self._index.write((json.dumps(entry, sort_keys=True, default=str) + "\n").encode())
        self._index.flush()
        os.fsync(self._index.fileno())
        self.rows += len(data)
        self.done.add(clip_id)
        if self.bad.pop(clip_id, None) is not None:
            self._write_bad()

    def _new_uid(self, clip_id: str, raw: bytes) -> str:
        # deterministic (a resumed run writes the same index bytes as an uninterrupted one),
        # unique in the part: a row re-made where a retired one stood gets a suffix
        base = hashlib.sha1(f"{self.part_dir.name}:{self.rows}:{clip_id}".encode())
        base.update(raw)
        uid, k = base.hexdigest()[:20], 0
        while uid + (f"-{k}" if k else "") in self.retired:
            k += 1
        return uid + (f"-{k}" if k else "")

    def retire(self, part: str, uid: str, clip_id: str, reason: str) -> None:
        """Supersede row ``uid`` of clip ``clip_id`` in ``part`` (this one or another)."""
        retire(self.path / part, uid, clip_id, reason)
        if part == self.part_dir.name:
            self.retired[uid] = {"uid": uid, "clip_id": clip_id, "reason": reason}
            self.done.discard(clip_id)

    def record_bad(self, clip_id: str, path: str, reason: str) -> None:
        """List a clip whose audio was rejected in ``bad.jsonl`` (once, latest reason)."""
        self.bad[str(clip_id)] = {"clip_id": str(clip_id), "path": str(path), "reason": reason}
        self._write_bad()

    def _write_bad(self) -> None:
        lines = [json.dumps(self.bad[k], sort_keys=True) + "\n" for k in sorted(self.bad)]
        atomic_write_text(self.part_dir / BAD_FILE, "".join(lines))

    def close(self) -> None:
        """Close the files and release the part's lock (idempotent)."""
        for fh in (getattr(self, "_data", None), getattr(self, "_index", None)):
            if fh is not None:
                fh.close()
        self._data = self._index = None
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()  # releases the part's lock once; closing again does nothing

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
