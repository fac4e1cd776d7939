"""The latent store: every clip's (frames, D) features in float16, memory-mapped, resumable.

Layout: a store is a folder of parts; parts of any shard layout (``--shard i/N`` for any N)
are read together as one store::

    <store>/store.json                      header: identity, dim, dtype, provenance
    <store>/part-000-of-002/part.json       the part's own header: the settings its bytes hold
    <store>/part-000-of-002/latents.f16     raw float16 rows (one row per frame), append-only
    <store>/part-000-of-002/index.jsonl     one JSON line per committed clip, append-only
    <store>/part-000-of-002/retired.jsonl   rows superseded (audio changed, data lost), by uid
    <store>/part-000-of-002/bad.jsonl       clips whose audio was rejected (rewritten whole)
    <store>/part-000-of-002/.lock           file lock held by the one writer of the part

What the store proves: every part carries the settings (frontend identity, dim, dtype) that
made its bytes, and a writer is refused unless they equal its own, part by part, so bytes are
never read under other settings (``store.json`` is a summary, rewritten if deleted). Every
index line carries the identity of the audio it came from (``source_size``,
``source_mtime_ns``, ``source_sha256``), a ``uid`` and the CRC-32 of its latent bytes
(``latent_crc32``): :func:`verify_store` checks them all, extraction checks the cheap ones.

Commit protocol: a clip's latent bytes are appended to ``latents.f16`` and fsynced *before*
its index line (clip_id, uid, offset, frames, crc, meta) is appended and fsynced. A clip
exists only once its index line is complete, so a crash leaves at most a torn last index line
and uncommitted trailing data bytes; :class:`StoreWriter` truncates both on open, and
:class:`LatentStore` ignores them. A row is superseded by appending its uid to
``retired.jsonl`` *before* the clip is extracted again, so a crash in between leaves the clip
missing (redone by the next run), never two rows of one clip. Reading never loads the data:
each part is one ``np.memmap`` and a clip is a slice of it (full SONYC at DAC is ~32 GB).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import pandas as pd

from mvlib.core.cache import atomic_write_text
from mvlib.core.errors import MvlibError

log = logging.getLogger(__name__)

HEADER_FILE = "store.json"
PART_HEADER_FILE = "part.json"
DATA_FILE = "latents.f16"
INDEX_FILE = "index.jsonl"
RETIRED_FILE = "retired.jsonl"
BAD_FILE = "bad.jsonl"
LOCK_FILE = ".lock"
FORMAT = "mvlib-latent-store"
FORMAT_VERSION = 2
DTYPE = np.dtype("<f2")
_PART_RE = re.compile(r"^part-(\d{3,})-of-(\d{3,})$")
#: header keys (dotted for identity) that must agree between a store (or a part) and a writer
_CHECKED = ("format", "version", "dim", "dtype")
#: the fields every index line has
_CORE = ("clip_id", "uid", "offset", "frames")
#: the per-clip audio identity recorded in every index line
SOURCE_KEYS = ("source_size", "source_mtime_ns", "source_sha256")


class StoreError(MvlibError):
    """A store that is corrupt, busy, or used in a way it does not allow."""

    def __init__(self, culprit, what: str = "", fix: str = ""):
        super().__init__(culprit, what, fix)


class StoreMismatchError(StoreError):
    """A writer whose header (frontend, weights, dim, ...) differs from the store's."""


def part_name(shard: tuple[int, int]) -> str:
    """Folder of shard ``(i, n)``: ``part-{i:03d}-of-{n:03d}``."""
    i, n = shard
    assert 0 <= i < n, f"shard {i}/{n}: need 0 <= i < n"
    return f"part-{i:03d}-of-{n:03d}"


def part_shard(name: str) -> tuple[int, int]:
    """``part-001-of-004`` -> ``(1, 4)``."""
    m = _PART_RE.match(name)
    assert m, f"{name!r} is not a part folder name"
    return int(m.group(1)), int(m.group(2))


def _full_header(header: dict[str, Any]) -> dict[str, Any]:
    """A writer's header completed with format, version and dtype (no shard count: parts of
    any shard layout make one store)."""
    missing = {"identity", "dim"} - set(header)
    assert not missing, f"store header lacks {sorted(missing)}"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "dtype": "float16",
        "provenance": {},
        **header,
        "dim": int(header["dim"]),
    }


def header_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences that forbid writing ``new`` into a store (or part) made with ``old``.

    Compared: format, version, dim, dtype, every ``identity`` key (whatever keys the frontend
    puts there: codec, weights, rate, precision, ...), and ``provenance.dataset`` when both
    name one. Other provenance (config, versions) may differ.
    """
    diffs = [f"{k}: {old.get(k)!r} != {new.get(k)!r}" for k in _CHECKED if old.get(k) != new.get(k)]
    oid, nid = old.get("identity", {}), new.get("identity", {})
    for k in sorted(set(oid) | set(nid)):
        if oid.get(k) != nid.get(k):
            diffs.append(f"identity.{k}: {oid.get(k)!r} != {nid.get(k)!r}")
    od, nd = old.get("provenance", {}).get("dataset"), new.get("provenance", {}).get("dataset")
    if od is not None and nd is not None and od != nd:
        diffs.append(f"provenance.dataset: {od!r} != {nd!r}")
    return diffs


def _create_header(path: Path, header: dict[str, Any], name: str = HEADER_FILE) -> None:
    # write beside, then hard-link into place: the header appears whole, and of two writers
    # racing to create it exactly one wins (link fails on an existing name)
    text = json.dumps(header, indent=2, sort_keys=True, default=str) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path / name)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _read_json_header(f: Path) -> dict[str, Any]:
    try:
        header = json.loads(f.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise StoreError(
            f,
            f"corrupt header, not JSON ({e})",
            "delete this file: each part keeps its own settings in part.json, and the next "
            "`mvlib extract` into this store writes store.json again",
        ) from e
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise StoreError(f, f"format {got!r}, expected {FORMAT!r}", "this is not a latent store")
    if header.get("version") != FORMAT_VERSION:
        raise StoreError(
            f,
            f"store format version {header.get('version')!r}; this mvlib reads version "
            f"{FORMAT_VERSION} (parts with their own headers and checksums)",
            "delete this store (it is a cache) and extract again",
        )
    return header


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The ``store.json`` of a store folder."""
    f = Path(path) / HEADER_FILE
    if not f.is_file():
        has_parts = Path(path).is_dir() and any(
            _PART_RE.match(p.name) for p in Path(path).iterdir()
        )
        raise StoreError(
            path,
            f"not a latent store (no {HEADER_FILE})",
            (
                "run `mvlib extract` into it: the parts' own headers are checked and store.json "
                "written again"
                if has_parts
                else "give the folder of a store made by `mvlib extract`"
            ),
        )
    return _read_json_header(f)


def read_part_header(part_dir: Path) -> dict[str, Any] | None:
    """A part's own ``part.json`` (None if it has none)."""
    f = part_dir / PART_HEADER_FILE
    return _read_json_header(f) if f.is_file() else None


def _iter_lines(f: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, complete) of a JSON-lines file, streamed (never read whole)."""
    if not f.exists():
        return
    with open(f, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            yield lineno, line, line.endswith(b"\n")


def read_index(
    part_dir: Path, keys: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Committed entries of a part's index, and the byte length of its committed prefix.

    A last line without its newline, or that is not valid JSON, is a torn write: ignored.
    Any other bad line, or offsets that do not follow each other, is corruption. ``keys``:
    keep only these fields (and clip_id, uid, offset, frames) of each entry (reading lean).
    """
    entries: list[dict[str, Any]] = []
    good = 0
    for e, n in iter_index(part_dir, keys):
        entries.append(e)
        good += n
    return entries, good


def iter_index(
    part_dir: Path, keys: Sequence[str] | None = None
) -> Iterator[tuple[dict[str, Any], int]]:
    """Committed entries of a part's index, streamed, each with its line's byte length
    (see :func:`read_index`)."""
    f = part_dir / INDEX_FILE
    row = 0
    pending_error: StoreError | None = None
    for lineno, line, complete in _iter_lines(f):
        if pending_error is not None:
            raise pending_error  # a bad line that was not the last one
        if not complete:
            break  # torn last line
        try:
            e = json.loads(line)
        except ValueError as err:
            pending_error = StoreError(
                f"{f}:{lineno}",
                f"corrupt index line ({err})",
                "the part is damaged: move the part folder away and extract again "
                "(`mvlib store verify` says which shard)",
            )
            continue
        if e.get("offset") != row or int(e.get("frames", 0)) <= 0:
            raise StoreError(
                f"{f}:{lineno}",
                f"clip {e.get('clip_id')!r} offset {e.get('offset')} frames "
                f"{e.get('frames')}; expected offset {row} and frames > 0",
                "the part is damaged: move the part folder away and extract again",
            )
        row += int(e["frames"])
        yield (e if keys is None else {k: e[k] for k in (*_CORE, *keys) if k in e}), len(line)


def read_retired(part_dir: Path) -> dict[str, dict[str, Any]]:
    """Rows of a part superseded so far: uid -> {uid, clip_id, reason}."""
    out = {}
    for _, line, complete in _iter_lines(part_dir / RETIRED_FILE):
        if complete:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a torn line retires nothing
            out[e["uid"]] = e
    return out


def retire(part_dir: Path, uid: str, clip_id: str, reason: str) -> None:
    """Supersede one row of a part: append its uid to ``retired.jsonl`` (fsynced).

    One short ``O_APPEND`` write: safe beside the part's writer and other retirers.
    """
    line = json.dumps({"uid": uid, "clip_id": clip_id, "reason": reason}, sort_keys=True) + "\n"
    fd = os.open(part_dir / RETIRED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_stat(path: str | os.PathLike) -> dict[str, int]:
    """The cheap part of a file's identity: ``source_size`` and ``source_mtime_ns``."""
    st = os.stat(path)
    return {"source_size": int(st.st_size), "source_mtime_ns": int(st.st_mtime_ns)}


def audio_changed(entry: dict[str, Any], path: str | os.PathLike, full: bool = False) -> str:
    """Why the audio at ``path`` is not the one ``entry`` was extracted from ('' if it is).

    Cheap first: equal size and mtime mean unchanged unless ``full``; otherwise the content
    hash decides (a touched file with the same bytes is unchanged).
    """
    try:
        now = source_stat(path)
    except OSError as e:
        return f"audio unreadable now ({e.strerror or e})"
    same_stat = all(entry.get(k) == now[k] for k in ("source_size", "source_mtime_ns"))
    if same_stat and not full:
        return ""
    if entry.get("source_size") is not None and entry["source_size"] != now["source_size"]:
        return f"audio changed (size {entry['source_size']} -> {now['source_size']} bytes)"
    if "source_sha256" not in entry:
        return "" if same_stat else "audio identity not recorded and file modified"
    try:
        digest = file_sha256(path)
    except OSError as e:
        return f"audio unreadable now ({e.strerror or e})"
    return "" if digest == entry["source_sha256"] else "audio changed (content hash differs)"


@dataclass
class PartScan:
    """What one part holds, read without loading its data.

    Attributes
    ----------
    name : part folder name
    header : its ``part.json`` (None if absent)
    entries : committed index entries (all fields, or only ``keys`` when scanned lean)
    index_bytes, torn_index_bytes : committed index prefix, and bytes of a torn tail after it
    data_bytes : size of ``latents.f16``
    retired : uid -> retirement record
    lost : entries whose latent bytes lie beyond the end of ``latents.f16`` (truncated data)
    """

    name: str
    header: dict[str, Any] | None
    entries: list[dict[str, Any]]
    index_bytes: int
    torn_index_bytes: int
    data_bytes: int
    retired: dict[str, dict[str, Any]]
    lost: list[dict[str, Any]] = field(default_factory=list)

    def live(self) -> list[dict[str, Any]]:
        """Entries neither retired nor lost."""
        lost = {id(e) for e in self.lost}
        return [e for e in self.entries if id(e) not in lost and _uid(e) not in self.retired]


def _uid(entry: dict[str, Any]) -> str:
    return str(entry.get("uid", f"@{entry.get('offset')}"))


def scan_part(part_dir: Path, dim: int, keys: Sequence[str] | None = None) -> PartScan:
    """Read a part's header, index, retirements and data length (never its data)."""
    entries, good = read_index(part_dir, keys)
    index_f, data_f = part_dir / INDEX_FILE, part_dir / DATA_FILE
    have_index = index_f.stat().st_size if index_f.exists() else 0
    data_bytes = data_f.stat().st_size if data_f.exists() else 0
    row_bytes = dim * DTYPE.itemsize
    lost = [e for e in entries if (e["offset"] + int(e["frames"])) * row_bytes > data_bytes]
    return PartScan(
        name=part_dir.name,
        header=read_part_header(part_dir),
        entries=entries,
        index_bytes=good,
        torn_index_bytes=have_index - good,
        data_bytes=data_bytes,
        retired=read_retired(part_dir),
        lost=lost,
    )


def list_parts(path: Path) -> list[str]:
    """Part folder names present in a store folder, sorted."""
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.is_dir() and _PART_RE.match(p.name))


def check_part(path: Path, name: str, want: dict[str, Any]) -> None:
    """Refuse part ``name`` of the store at ``path`` if its own header differs from ``want``
    (or it holds data without one). Reads the header and file sizes only."""
    part_dir = path / name
    held = sum(
        f.stat().st_size for f in (part_dir / DATA_FILE, part_dir / INDEX_FILE) if f.exists()
    )
    _check_part_header(path, PartScan(name, read_part_header(part_dir), [], 0, 0, held, {}), want)


def _check_part_header(path: Path, scan: PartScan, want: dict[str, Any]) -> None:
    """Refuse a part whose own settings differ from ``want`` (or that has data but none)."""
    part_dir = path / scan.name
    if scan.header is None:
        if scan.entries or scan.data_bytes:
            raise StoreError(
                part_dir,
                f"holds data but no {PART_HEADER_FILE}: the settings that made its bytes are "
                "unknown",
                "move this part away or delete it, then extract again",
            )
        return
    diffs = header_differences(scan.header, want)
    if diffs:
        raise StoreMismatchError(
            part_dir,
            "was written with other settings; refusing to mix or reinterpret its bytes: "
            + "; ".join(diffs),
            "use another store folder (or delete this one) for these settings",
        )


def _lost_error(part_dir: Path, data_bytes: int, lost: list[dict], dim: int) -> StoreError:
    rows = max(e["offset"] + int(e["frames"]) for e in lost)
    names = [e["clip_id"] for e in lost[:5]]
    return StoreError(
        part_dir / DATA_FILE,
        f"{data_bytes} bytes, but its index commits {rows} rows of {dim} float16 "
        f"({rows * dim * DTYPE.itemsize} bytes): the latents of {len(lost)} clip(s) are "
        f"lost ({', '.join(map(repr, names))}{', ...' if len(lost) > 5 else ''})",
        f"run `mvlib extract --shard {'/'.join(map(str, part_shard(part_dir.name)))}` again: "
        "it redoes exactly those clips (`mvlib store verify` lists them)",
    )


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
        want = _full_header(header)
        self.dim = int(want["dim"])
        # every part's own settings first: store.json may be absent or rewritten
        self.path.mkdir(parents=True, exist_ok=True)
        for name in list_parts(self.path):
            check_part(self.path, name, want)
        _create_header(self.path, want)
        self.header = read_header(self.path)
        diffs = header_differences(self.header, want)
        if diffs:
            raise StoreMismatchError(
                self.path / HEADER_FILE,
                "store was made with different settings; refusing to mix. " + "; ".join(diffs),
                "use another store folder",
            )
        self.part_dir.mkdir(exist_ok=True)
        self._lock = filelock.FileLock(self.part_dir / LOCK_FILE, thread_local=False)
        self._acquire(timeout)
        try:
            check_part(self.path, self.part_dir.name, want)
            if read_part_header(self.part_dir) is None:
                part_header = {k: want[k] for k in (*_CHECKED, "identity")}
                part_header["shard"] = list(self.shard)
                part_header["provenance"] = {"dataset": want["provenance"].get("dataset")}
                _create_header(self.part_dir, part_header, PART_HEADER_FILE)
            entries, self.repaired = self._repair()
        except BaseException:
            self._lock.release()
            raise
        self.retired = read_retired(self.part_dir)
        live = [e for e in entries if _uid(e) not in self.retired]
        self.done: set[str] = {e["clip_id"] for e in live}
        self.rows = sum(int(e["frames"]) for e in entries)
        self._data = open(self.part_dir / DATA_FILE, "ab")
        self._index = open(self.part_dir / INDEX_FILE, "ab")
        self.bad: dict[str, dict[str, Any]] = self._read_bad()

    def _acquire(self, timeout: float | None) -> None:
        try:
            self._lock.acquire(timeout=0 if timeout is None else timeout)
            return
        except filelock.Timeout:
            if timeout is not None:
                raise StoreError(
                    self.part_dir,
                    f"another process is writing this part (waited {timeout:g} s)",
                    "wait for it to finish, then run again: its clips are reused",
                ) from None
        log.warning("%s: another process is writing this part; waiting for it", self.part_dir)
        self._lock.acquire()

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
        for _, line, complete in _iter_lines(self.part_dir / BAD_FILE):
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
        clip_id = str(clip_id)
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
        if lock is not None and lock.is_locked:
            lock.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _hash56(text: str) -> int:
    """A 56-bit non-negative integer digest of ``text`` (compact equality of audio hashes)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "big")


#: the fields a reader keeps per clip (the rest is read again on demand: ``LatentStore.index``)
_LEAN = ("source_sha256",)


class LatentStore:
    """Read-only view of a store: the live clips of all its parts, memory-mapped.

    Parts of any shard layout are read as one store. Clips are ordered by clip_id (sorted),
    so an int row means the same clip however the store was sharded. Reading while a writer
    appends is safe: only committed clips show. Memory: per clip an id and three integers;
    per-clip metadata is read on demand (:attr:`index`); latents stay on disk (memory maps).

    Parameters
    ----------
    path : str or PathLike
        The store folder.

    Raises
    ------
    StoreError
        Corrupt headers or index, a part made with other settings, latents lost from a data
        file (named), or one clip with rows of different audio in two parts.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.header = read_header(self.path)
        self.identity: dict[str, Any] = self.header["identity"]
        self.dim = int(self.header["dim"])
        self._part_names = list_parts(self.path)
        self._part_rows: list[int] = []
        # per live row, compact: id (utf-8 bytes), part, offset, frames, audio hash prefix
        ids, cols = [], [array("q") for _ in range(4)]
        for pi, name in enumerate(self._part_names):
            part_ids = self._read_part(pi, name, cols)
            ids.append(np.array(part_ids, dtype=bytes) if part_ids else np.array([], "S1"))
        all_ids = np.concatenate(ids) if ids else np.array([], "S1")
        part, offset, frames, sha = (np.frombuffer(c, np.int64) for c in cols)
        order = np.argsort(all_ids, kind="stable")  # ids, then part order
        all_ids, part, offset, frames, sha = (
            a[order] for a in (all_ids, part, offset, frames, sha)
        )
        same = np.flatnonzero(all_ids[1:] == all_ids[:-1]) + 1  # later rows of one clip
        bad = same[(sha[same] < 0) | (sha[same] != sha[same - 1])]
        if len(bad):
            where = [
                (all_ids[i].decode(), self._part_names[part[i - 1]], self._part_names[part[i]])
                for i in bad[:10]
            ]
            raise StoreError(
                self.path,
                f"clip ids in more than one part, from different audio: {where}",
                "run `mvlib extract` with the current data: it keeps the row of the current "
                "audio and retires the others (`mvlib store verify` lists them)",
            )
        self.n_duplicates = len(same)  #: redundant rows of one clip from the same audio
        keep = np.ones(len(all_ids), bool)
        keep[same] = False
        self._ids = all_ids[keep]  # sorted utf-8 clip ids (the row order)
        self._part_idx = part[keep].astype(np.int32)
        self._offsets = offset[keep]
        self.frames: np.ndarray = frames[keep]
        self._maps: dict[int, np.memmap] = {}
        self._index: pd.DataFrame | None = None
        self._clip_ids: list[str] | None = None

    def _read_part(self, pi: int, name: str, cols: list[array]) -> list[bytes]:
        """Append one part's live rows to ``cols`` (part, offset, frames, sha prefix); return
        their ids. Streams the index: no per-clip dicts are kept."""
        part_dir = self.path / name
        data_f = part_dir / DATA_FILE
        data_bytes = data_f.stat().st_size if data_f.exists() else 0
        retired = read_retired(part_dir)
        data_rows = data_bytes // (self.dim * DTYPE.itemsize)
        ids: list[bytes] = []
        lost: list[dict[str, Any]] = []
        committed = 0
        check_part(self.path, name, self.header)
        for e, _ in iter_index(part_dir, _LEAN):
            end = e["offset"] + int(e["frames"])
            committed = end
            if _uid(e) in retired:
                continue
            if end > data_rows:
                lost.append(e)
                continue
            ids.append(str(e["clip_id"]).encode())
            sha = e.get("source_sha256")
            key = _hash56(sha) if sha else -1
            for c, v in zip(cols, (pi, e["offset"], e["frames"], key)):
                c.append(int(v))
        if lost:
            raise _lost_error(part_dir, data_bytes, lost, self.dim)
        self._part_rows.append(min(committed, data_rows))
        return ids

    @property
    def clip_ids(self) -> list[str]:
        """Clip ids in row order (sorted)."""
        if self._clip_ids is None:
            self._clip_ids = [b.decode() for b in self._ids]
        return self._clip_ids

    def parts(self) -> list[str]:
        """Part folder names present, sorted."""
        return list(self._part_names)

    @property
    def index(self) -> pd.DataFrame:
        """One row per clip (sorted by clip_id): ``clip_id, part, offset, frames`` and every
        metadata field of its index line. Read from disk on first use."""
        if self._index is None:
            want = set(zip(self._part_idx.tolist(), self._offsets.tolist()))
            rows = []
            for pi, name in enumerate(self._part_names):
                entries, _ = read_index(self.path / name)
                rows += [{**e, "part": name} for e in entries if (pi, e["offset"]) in want]
            cols = ["clip_id", "part", "offset", "frames"]
            df = pd.DataFrame(rows, columns=None if rows else cols)
            df["clip_id"] = df["clip_id"].astype(str)
            df = df.sort_values("clip_id", kind="stable").reset_index(drop=True)
            self._index = df[cols + [c for c in df.columns if c not in cols]]
        return self._index

    def _map(self, pi: int) -> np.memmap:
        if pi not in self._maps:
            # the shape covers committed rows only: trailing uncommitted bytes stay unseen
            self._maps[pi] = np.memmap(
                self.path / self._part_names[pi] / DATA_FILE,
                dtype=DTYPE,
                mode="r",
                shape=(self._part_rows[pi], self.dim),
            )
        return self._maps[pi]

    def __len__(self) -> int:
        return len(self._ids)

    def _find(self, clip_id: object) -> int:
        if not isinstance(clip_id, str):
            return -1
        key = clip_id.encode()
        i = int(np.searchsorted(self._ids, key))
        return i if i < len(self._ids) and self._ids[i] == key else -1

    def __contains__(self, clip_id: object) -> bool:
        return self._find(clip_id) >= 0

    def row(self, key: int | str) -> int:
        """Row number of a clip id (or check an int row)."""
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"row {key} out of range for a store of {len(self)} clips")
            return int(key) % len(self)
        r = self._find(key)
        if r < 0:
            raise KeyError(f"clip {key!r} is not in the store {self.path}")
        return r

    def lookup(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows of several clip ids, ``np.ndarray[N]`` int64, -1 where a clip is absent
        (vectorised: one sorted search)."""
        keys = np.array([str(c).encode() for c in clip_ids], dtype=bytes)
        if not len(keys) or not len(self._ids):
            return np.full(len(keys), -1, np.int64)
        i = np.minimum(np.searchsorted(self._ids, keys), len(self._ids) - 1)
        return np.where(self._ids[i] == keys, i, -1).astype(np.int64)

    def rows(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows of several clip ids, ``np.ndarray[N]`` int64; missing clips are named."""
        clip_ids = [str(c) for c in clip_ids]
        found = list(zip(clip_ids, self.lookup(clip_ids).tolist()))
        missing = [c for c, r in found if r < 0]
        if missing:
            raise KeyError(
                f"{len(missing)} clip(s) are not in the latent store {self.path}: {missing[:5]} "
                "(was extraction run on a subset, or did clips fail as bad audio?)"
            )
        return np.array([r for _, r in found], dtype=np.int64)

    def get(self, key: int | str) -> np.ndarray:
        """One clip's latent, ``np.ndarray[T x D]`` float16: a memmap slice, no copy."""
        r = self.row(key)
        off = self._offsets[r]
        return self._map(int(self._part_idx[r]))[off : off + self.frames[r]]

    def get_batch(
        self,
        rows: Sequence[int | str],
        crop_frames: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Equal-length crops of several clips, copied from the memory maps.

        Parameters
        ----------
        rows : sequence of int or str
            Rows or clip ids.
        crop_frames : int, optional
            Frames per clip; None: whole clips, which must then all have the same length.
        rng : np.random.Generator, optional
            Random crop start per clip (one draw per clip, in order); None: start at frame 0.

        Returns
        -------
        np.ndarray[B x T x D] float32
        """
        given = np.asarray(rows)
        if given.dtype.kind in "iu" and given.ndim == 1:  # rows (the loaders' case): vectorised
            bad = given[(given < -len(self)) | (given >= len(self))]
            if len(bad):
                raise IndexError(f"row {bad[0]} out of range for a store of {len(self)} clips")
            rs = given.astype(np.int64) % max(len(self), 1)
        else:
            rs = np.array([self.row(k) for k in rows], dtype=np.int64)
        frames = self.frames[rs]
        if crop_frames is None:
            if len(set(frames.tolist())) > 1:
                raise ValueError(
                    f"clips have different frame counts {sorted(set(frames.tolist()))}; "
                    "pass crop_frames to crop them to equal length"
                )
            crop_frames = int(frames[0]) if len(rs) else 0
        short = [(self.clip_ids[r], int(f)) for r, f in zip(rs, frames) if f < crop_frames]
        if short:
            raise ValueError(f"crop_frames={crop_frames} exceeds the length of clips {short[:5]}")
        out = np.empty((len(rs), crop_frames, self.dim), np.float32)  # (B, T, D)
        first = self._offsets[rs].tolist()
        for b, (f, pi) in enumerate(zip(frames.tolist(), self._part_idx[rs].tolist())):
            start = first[b] + (int(rng.integers(0, f - crop_frames + 1)) if rng is not None else 0)
            out[b] = self._map(pi)[start : start + crop_frames]  # float16 -> float32, one copy
        return out

    def completed(self, clip_ids: Iterable[str]) -> bool:
        """Whether every one of ``clip_ids`` is committed."""
        return all(c in self for c in clip_ids)

    def bad(self) -> pd.DataFrame:
        """Clips rejected for bad audio in any part and not extracted since (clip_id, path,
        reason)."""
        rows = {}
        for part in self._part_names:
            f = self.path / part / BAD_FILE
            if f.exists():
                for s in f.read_text().splitlines():
                    if s.strip():
                        e = json.loads(s)
                        if e["clip_id"] not in self:
                            rows[e["clip_id"]] = e
        return pd.DataFrame([rows[k] for k in sorted(rows)], columns=["clip_id", "path", "reason"])

    def __getstate__(self) -> dict[str, Any]:
        # memmaps would pickle as full copies: reopen them lazily in the receiving process
        return {**self.__dict__, "_maps": {}, "_index": None, "_clip_ids": None}

    def __repr__(self) -> str:
        return f"LatentStore({str(self.path)!r}, clips={len(self)}, dim={self.dim})"


def feature_statistics(
    store: LatentStore, max_clips: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over all frames of (the first ``max_clips``) clips.

    Streams clip by clip (float64 sums), so the store is never loaded whole.

    Returns
    -------
    mean, std : np.ndarray[D]
    """
    n = len(store) if max_clips is None else min(max_clips, len(store))
    assert n > 0, f"{store.path}: no clips to summarise"
    s = np.zeros(store.dim)
    ss = np.zeros(store.dim)
    count = 0
    for r in range(n):
        x = store.get(r).astype(np.float64)  # (T, D)
        s += x.sum(0)
        ss += (x**2).sum(0)
        count += len(x)
    mean = s / count
    return mean, np.sqrt(np.maximum(ss / count - mean**2, 0.0))


#: findings that make :func:`verify_store` fail (the rest are notes)
PROBLEMS = (
    "header",
    "part-header",
    "index-corrupt",
    "data-lost",
    "corrupt-latent",
    "conflicting-duplicate",
    "missing",
    "audio-changed",
)


@dataclass
class Finding:
    """One thing :func:`verify_store` found: ``kind`` (a :data:`PROBLEMS` entry, or a note:
    ``torn-tail``, ``duplicate``, ``bad-audio``, ``extra``), the clip and part concerned,
    a detail, and the shard ``(i, N)`` whose extraction redoes it (None: nothing to redo)."""

    kind: str
    clip_id: str | None
    part: str | None
    detail: str
    shard: tuple[int, int] | None = None
    needs_verify: bool = False  #: the redo must re-check content (``mvlib extract --verify``)

    @property
    def problem(self) -> bool:
        return self.kind in PROBLEMS


@dataclass
class VerifyReport:
    """What :func:`verify_store` checked and found, and the commands that redo it."""

    path: Path
    parts: list[str]
    n_live: int
    n_expected: int | None
    findings: list[Finding]
    data_dir: str | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def commands(self) -> list[str]:
        """One ``mvlib extract`` per shard that has something to redo."""
        need: dict[tuple[int, int], bool] = {}
        for f in self.problems:
            if f.shard is not None:
                need[f.shard] = need.get(f.shard, False) or f.needs_verify
        data = f" --data {self.data_dir}" if self.data_dir else ""
        return [
            f"mvlib extract{data} --out {self.path} --shard {i}/{n}" + (" --verify" if v else "")
            for (i, n), v in sorted(need.items())
        ]

    def text(self, limit: int = 10) -> str:
        """The report for people: a verdict, findings by kind (first few named), commands."""
        exp = f" of {self.n_expected} expected" if self.n_expected is not None else ""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"{self.path}: {verdict}: {self.n_live} clips{exp} in {len(self.parts)} part(s)"]
        kinds: dict[str, list[Finding]] = {}
        for f in self.findings:
            kinds.setdefault(f.kind, []).append(f)
        for kind, fs in sorted(kinds.items(), key=lambda kv: (not kv[1][0].problem, kv[0])):
            label = "problem" if fs[0].problem else "note"
            lines.append(f"  {label}: {kind}: {len(fs)}")
            for f in fs[:limit]:
                where = " ".join(x for x in (f.clip_id and f"clip {f.clip_id!r}", f.part) if x)
                lines.append(f"    {where}: {f.detail}" if where else f"    {f.detail}")
            if len(fs) > limit:
                lines.append(f"    ... and {len(fs) - limit} more")
        cmds = self.commands()
        if cmds:
            lines.append("  redo (with the profile/--set that made this store):")
            lines += [f"    {c}" for c in cmds]
        for f in self.problems:
            if f.kind in ("part-header", "index-corrupt") and f.part:
                lines.append(f"  move {self.path / f.part} away, then extract its shard again")
        return "\n".join(lines)


def _layout(parts: list[str]) -> int:
    """The shard count N most parts were written with (1 for an empty store)."""
    ns = [part_shard(p)[1] for p in parts]
    return max(set(ns), key=ns.count) if ns else 1


def verify_store(
    path: str | os.PathLike,
    clips: pd.DataFrame | None = None,
    full: bool = True,
    data_dir: str | os.PathLike | None = None,
) -> VerifyReport:
    """Check every part of a store, and optionally that it holds a dataset exactly.

    Checks: headers (``store.json`` and each part's, against each other), index integrity,
    data length against the index, the CRC-32 of every live clip's latent bytes, one row per
    clip. With ``clips`` (``clip_id``, ``audio_path``; the subset the store's
    ``features_config.max_clips`` took): every clip present, or recorded as bad audio, and
    its audio unchanged (size and mtime; with ``full`` also the content hash).

    Returns
    -------
    VerifyReport
        ``ok`` when nothing needs redoing; ``commands()`` the extractions that redo it.
    """
    path = Path(path)
    found: list[Finding] = []
    parts = list_parts(path)
    header: dict[str, Any] | None
    try:
        header = read_header(path)
    except StoreError as e:
        found.append(Finding("header", None, None, e.line()))
        header = None
    if header is None:  # fall back on the parts' own headers for the dim
        for p in parts:
            try:
                header = read_part_header(path / p)
            except StoreError:
                continue
            if header is not None:
                break
    report = VerifyReport(path, parts, 0, None, found, str(data_dir) if data_dir else None)
    if header is None:
        return report
    dim = int(header["dim"])
    row_bytes = dim * DTYPE.itemsize
    live: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    bad: dict[str, dict[str, Any]] = {}
    for p in parts:
        shard = part_shard(p)
        try:
            scan = scan_part(path / p, dim)
            _check_part_header(path, scan, header)
        except StoreError as e:
            kind = "part-header" if "index" not in str(e.culprit) else "index-corrupt"
            found.append(Finding(kind, None, p, e.line(), shard))
            continue
        if scan.torn_index_bytes:
            found.append(
                Finding(
                    "torn-tail",
                    None,
                    p,
                    f"{scan.torn_index_bytes} bytes of a torn index "
                    "line (a crash): ignored, and cut by the next writer",
                )
            )
        for e in scan.lost:
            if _uid(e) not in scan.retired:
                found.append(
                    Finding(
                        "data-lost",
                        e["clip_id"],
                        p,
                        f"latent bytes beyond the end of " f"{DATA_FILE} ({scan.data_bytes} bytes)",
                        shard,
                    )
                )
        entries = scan.live()
        if entries:
            mm = np.memmap(path / p / DATA_FILE, dtype=np.uint8, mode="r")
            for e in entries:
                a, n = e["offset"] * row_bytes, int(e["frames"]) * row_bytes
                crc = zlib.crc32(mm[a : a + n])
                if "latent_crc32" in e and crc != e["latent_crc32"]:
                    found.append(
                        Finding(
                            "corrupt-latent",
                            e["clip_id"],
                            p,
                            f"CRC-32 {crc} != recorded " f"{e['latent_crc32']}",
                            shard,
                            needs_verify=True,
                        )
                    )
                live.setdefault(str(e["clip_id"]), []).append((p, e))
            del mm
        for _, line, complete in _iter_lines(path / p / BAD_FILE):
            if complete and line.strip():
                b = json.loads(line)
                bad[str(b["clip_id"])] = {**b, "part": p}
    for cid, rows in live.items():
        shas = {e.get("source_sha256") for _, e in rows}
        if len(rows) > 1:
            kind = "duplicate" if len(shas) == 1 and None not in shas else "conflicting-duplicate"
            where = ", ".join(p for p, _ in rows)
            found.append(
                Finding(kind, cid, None, f"rows in {where}", part_shard(rows[-1][0]))
                if kind == "conflicting-duplicate"
                else Finding(kind, cid, None, f"rows of the same audio in {where}: one is used")
            )
    report.n_live = len(live)
    if clips is not None:
        max_clips = header.get("provenance", {}).get("features_config", {}).get("max_clips")
        sub = clips.iloc[: max_clips if max_clips is not None else len(clips)]
        report.n_expected = len(sub)
        n = _layout(parts)
        expected = set()
        for pos, (cid, audio) in enumerate(zip(sub["clip_id"].astype(str), sub["audio_path"])):
            expected.add(cid)
            if cid not in live:
                if cid in bad:
                    found.append(Finding("bad-audio", cid, bad[cid]["part"], bad[cid]["reason"]))
                else:
                    found.append(Finding("missing", cid, None, "not in the store", (pos % n, n)))
                continue
            p, e = live[cid][0]
            why = audio_changed(e, audio, full=full)
            if why:
                found.append(
                    Finding(
                        "audio-changed",
                        cid,
                        p,
                        f"{why}: {audio}",
                        (pos % n, n),
                        needs_verify="hash" in why,
                    )
                )
        extra = sorted(set(live) - expected)
        for cid in extra:
            found.append(
                Finding(
                    "extra",
                    cid,
                    live[cid][0][0],
                    "in the store, not in the dataset "
                    "(removed audio, or another subset): kept, unused",
                )
            )
    return report
