"""The latent store's on-disk format: layout, headers, index lines, and a part's bookkeeping.

What every reader and writer of a store agrees on, without touching the latent data::

    <store>/store.json                      header: identity, dim, dtype, provenance
    <store>/part-000-of-002/part.json       the part's own header: the settings its bytes hold
    <store>/part-000-of-002/latents.f16     raw float16 rows (one row per frame), append-only
    <store>/part-000-of-002/index.jsonl     one JSON line per committed clip, append-only
    <store>/part-000-of-002/retired.jsonl   rows superseded (audio changed, data lost), by uid
    <store>/part-000-of-002/bad.jsonl       clips whose audio was rejected (rewritten whole)
    <store>/part-000-of-002/.lock           file lock held by the one writer of the part

Headers are compared key by key (:func:`header_differences`) so bytes are never read under
other settings; an index is read streamed, a torn last line ignored (:func:`iter_index`); a
part's bookkeeping (index, retirements, data length) is scanned without its data
(:func:`scan_part`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mvlib.core.errors import MvlibError

HEADER_FILE = "store.json"
PART_HEADER_FILE = "part.json"
DATA_FILE = "latents.f16"
INDEX_FILE = "index.jsonl"
RETIRED_FILE = "retired.jsonl"
BAD_FILE = "bad.jsonl"
LOCK_FILE = ".lock"
#: the part writer's holder record (PID, host), beside its lock (mvlib.core.ownedlock)
HOLDER_FILE = ".lock.json"
FORMAT = "mvlib-latent-store"
FORMAT_VERSION = 2
DTYPE = np.dtype("<f2")
_PART_RE = re.compile(r"^part-(\d{3,})-of-(\d{3,})$")
#: header keys (dotted for identity) that must agree between a store (or a part) and a writer
CHECKED_KEYS = ("format", "version", "dim", "dtype")
#: the fields every index line has
_CORE = ("clip_id", "uid", "offset", "frames")


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


def full_header(header: dict[str, Any]) -> dict[str, Any]:
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
    diffs = [
        f"{k}: {old.get(k)!r} != {new.get(k)!r}" for k in CHECKED_KEYS if old.get(k) != new.get(k)
    ]
    oid, nid = old.get("identity", {}), new.get("identity", {})
    for k in sorted(set(oid) | set(nid)):
        if oid.get(k) != nid.get(k):
            diffs.append(f"identity.{k}: {oid.get(k)!r} != {nid.get(k)!r}")
    od, nd = old.get("provenance", {}).get("dataset"), new.get("provenance", {}).get("dataset")
    if od is not None and nd is not None and od != nd:
        diffs.append(f"provenance.dataset: {od!r} != {nd!r}")
    return diffs


def create_header(path: Path, header: dict[str, Any], name: str = HEADER_FILE) -> None:
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


def read_json_header(f: Path) -> dict[str, Any]:
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
    return read_json_header(f)


def read_part_header(part_dir: Path) -> dict[str, Any] | None:
    """A part's own ``part.json`` (None if it has none)."""
    f = part_dir / PART_HEADER_FILE
    return read_json_header(f) if f.is_file() else None


def iter_lines(f: Path) -> Iterator[tuple[int, bytes, bool]]:
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
    for lineno, line, complete in iter_lines(f):
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
    for _, line, complete in iter_lines(part_dir / RETIRED_FILE):
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
        return [e for e in self.entries if id(e) not in lost and entry_uid(e) not in self.retired]


def entry_uid(entry: dict[str, Any]) -> str:
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
    check_part_header(path, PartScan(name, read_part_header(part_dir), [], 0, 0, held, {}), want)


def check_part_header(path: Path, scan: PartScan, want: dict[str, Any]) -> None:
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


def lost_error(part_dir: Path, data_bytes: int, lost: list[dict], dim: int) -> StoreError:
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
