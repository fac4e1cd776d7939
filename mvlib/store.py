"""The latent store: every clip's (frames, D) features in float16, memory-mapped, resumable.

Layout (all shards of one store share ``store.json``)::

    <store>/store.json                      header: identity, dim, dtype, n_shards, provenance
    <store>/part-000-of-002/latents.f16     raw float16 rows (one row per frame), append-only
    <store>/part-000-of-002/index.jsonl     one JSON line per committed clip, append-only
    <store>/part-000-of-002/bad.jsonl       clips whose audio was rejected (rewritten whole)
    <store>/part-000-of-002/.lock           flock held by the one writer of the part

Commit protocol: a clip's latent bytes are appended to ``latents.f16`` and fsynced *before*
its index line (clip_id, offset, frames, meta) is appended and fsynced. A clip exists only
once its index line is complete, so a crash leaves at most a torn last index line and
uncommitted trailing data bytes; :class:`StoreWriter` truncates both on open, and
:class:`LatentStore` ignores them. Reading never loads the data: each part is one
``np.memmap`` and a clip is a slice of it (full SONYC at DAC is ~32 GB).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mvlib.cache import atomic_write_text

HEADER_FILE = "store.json"
DATA_FILE = "latents.f16"
INDEX_FILE = "index.jsonl"
BAD_FILE = "bad.jsonl"
LOCK_FILE = ".lock"
FORMAT = "mvlib-latent-store"
FORMAT_VERSION = 1
DTYPE = np.dtype("<f2")
_PART_RE = re.compile(r"^part-(\d{3,})-of-(\d{3,})$")
#: header keys (dotted for identity) that must agree between a store and a writer
_CHECKED = ("format", "version", "dim", "dtype", "n_shards")


class StoreError(RuntimeError):
    """A store that is corrupt, busy, or used in a way it does not allow."""


class StoreMismatchError(StoreError):
    """A writer whose header (frontend, weights, dim, ...) differs from the store's."""


def part_name(shard: tuple[int, int]) -> str:
    """Folder of shard ``(i, n)``: ``part-{i:03d}-of-{n:03d}``."""
    i, n = shard
    assert 0 <= i < n, f"shard {i}/{n}: need 0 <= i < n"
    return f"part-{i:03d}-of-{n:03d}"


def _full_header(header: dict[str, Any], n_shards: int) -> dict[str, Any]:
    missing = {"identity", "dim"} - set(header)
    assert not missing, f"store header lacks {sorted(missing)}"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "dtype": "float16",
        "n_shards": int(n_shards),
        "provenance": {},
        **header,
        "dim": int(header["dim"]),
    }


def header_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences that forbid writing ``new`` into a store made with ``old``.

    Compared: format, version, dim, dtype, n_shards, every ``identity`` key, and
    ``provenance.dataset`` when both name one. Other provenance (config, versions) may differ.
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


def _create_header(path: Path, header: dict[str, Any]) -> None:
    # write beside, then hard-link into place: the header appears whole, and of two writers
    # racing to create the store exactly one wins (link fails on an existing name)
    text = json.dumps(header, indent=2, sort_keys=True, default=str) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path, prefix=f".{HEADER_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path / HEADER_FILE)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The ``store.json`` of a store folder."""
    f = Path(path) / HEADER_FILE
    if not f.is_file():
        raise StoreError(f"{path}: not a latent store (no {HEADER_FILE})")
    with open(f) as fh:
        header = json.load(fh)
    if header.get("format") != FORMAT:
        raise StoreError(f"{f}: format {header.get('format')!r}, expected {FORMAT!r}")
    return header


def read_index(part_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """Committed entries of a part's index, and the byte length of its committed prefix.

    A last line without its newline, or that is not valid JSON, is a torn write: ignored.
    Any other bad line, or offsets that do not follow each other, is corruption.
    """
    f = part_dir / INDEX_FILE
    raw = f.read_bytes() if f.exists() else b""
    entries: list[dict[str, Any]] = []
    good = 0
    row = 0
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
        try:
            e = json.loads(line)
        except ValueError as err:
            if lineno == len(lines) - 1:
                break  # torn last line: its newline made it, its text did not all parse
            raise StoreError(f"{f}:{lineno}: corrupt index line ({err})") from err
        if e.get("offset") != row or int(e.get("frames", 0)) <= 0:
            raise StoreError(
                f"{f}:{lineno}: clip {e.get('clip_id')!r} offset {e.get('offset')} frames "
                f"{e.get('frames')}; expected offset {row} and frames > 0"
            )
        row += int(e["frames"])
        good += len(line) + 1
        entries.append(e)
    return entries, good


class StoreWriter:
    """Appends clips to one shard (part) of a store; repairs a crashed part on open.

    Parameters
    ----------
    path : str or PathLike
        The store folder (created if needed).
    header : dict
        ``identity`` (the frontend's), ``dim``, optionally ``provenance`` (dataset name,
        mvlib version, config). Creating the store writes it to ``store.json`` (with
        dtype float16 and n_shards); opening an existing store checks it.
    shard : (int, int)
        ``(i, n)``: this writer owns part i of n.

    Raises
    ------
    StoreMismatchError
        The store was made with another frontend, weights, dim or shard count.
    StoreError
        Another process is writing this part, or the part is corrupt beyond a torn tail.
    """

    def __init__(
        self, path: str | os.PathLike, header: dict[str, Any], shard: tuple[int, int] = (0, 1)
    ):
        self.path = Path(path)
        self.shard = (int(shard[0]), int(shard[1]))
        self.part_dir = self.path / part_name(self.shard)
        self.part_dir.mkdir(parents=True, exist_ok=True)
        want = _full_header(header, self.shard[1])
        _create_header(self.path, want)
        self.header = read_header(self.path)
        diffs = header_differences(self.header, want)
        if diffs:
            raise StoreMismatchError(
                f"{self.path}: store was made with different settings; refusing to mix. "
                + "; ".join(diffs)
                + ". Use another store folder."
            )
        self.dim = int(self.header["dim"])
        self._lock = open(self.part_dir / LOCK_FILE, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._lock.close()
            raise StoreError(f"{self.part_dir}: another process is writing this part") from e
        entries, self.repaired = self._repair()
        self.done: set[str] = {e["clip_id"] for e in entries}
        self.rows = sum(int(e["frames"]) for e in entries)
        self._data = open(self.part_dir / DATA_FILE, "ab")
        self._index = open(self.part_dir / INDEX_FILE, "ab")
        self.bad: dict[str, dict[str, Any]] = self._read_bad()

    def _repair(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Truncate a torn index line and uncommitted data bytes left by a crash."""
        entries, good = read_index(self.part_dir)
        index_f, data_f = self.part_dir / INDEX_FILE, self.part_dir / DATA_FILE
        index_f.touch()
        data_f.touch()
        rows = sum(int(e["frames"]) for e in entries)
        want = rows * self.dim * DTYPE.itemsize
        have_index, have_data = index_f.stat().st_size, data_f.stat().st_size
        if have_data < want:
            raise StoreError(
                f"{data_f}: {have_data} bytes but the index commits {rows} rows "
                f"({want} bytes): data lost; delete this part and extract it again"
            )
        for f, size, keep in ((index_f, have_index, good), (data_f, have_data, want)):
            if size > keep:
                with open(f, "r+b") as fh:
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
        return entries, {"index_bytes": have_index - good, "data_bytes": have_data - want}

    def _read_bad(self) -> dict[str, dict[str, Any]]:
        f = self.part_dir / BAD_FILE
        if not f.exists():
            return {}
        out = {}
        for line in f.read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                out[e["clip_id"]] = e
        return out

    def append(self, clip_id: str, latent: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        """Commit one clip: data written and fsynced, then its index line, then fsynced.

        Parameters
        ----------
        clip_id : str
            Unique in the store.
        latent : np.ndarray[T x D]
            Stored as float16 (must stay finite).
        meta : dict, optional
            JSON-serialisable per-clip facts (source file, its sha256, loudness, ...).
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
        self._data.write(data.tobytes())
        self._data.flush()
        os.fsync(self._data.fileno())
        entry = {**(meta or {}), "clip_id": clip_id, "offset": self.rows, "frames": len(data)}
        self._index.write((json.dumps(entry, sort_keys=True, default=str) + "\n").encode())
        self._index.flush()
        os.fsync(self._index.fileno())
        self.rows += len(data)
        self.done.add(clip_id)
        if self.bad.pop(clip_id, None) is not None:
            self._write_bad()

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
        if getattr(self, "_lock", None) is not None and not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class LatentStore:
    """Read-only view of a store: all committed clips of all parts, memory-mapped.

    Clips are ordered by clip_id (sorted), so an int row means the same clip however the
    store was sharded. Reading while a writer appends is safe: only committed clips show.

    Parameters
    ----------
    path : str or PathLike
        The store folder.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.header = read_header(self.path)
        self.identity: dict[str, Any] = self.header["identity"]
        self.dim = int(self.header["dim"])
        rows = []
        self._part_rows: dict[str, int] = {}
        for part in self.parts():
            entries, _ = read_index(self.path / part)
            self._part_rows[part] = sum(int(e["frames"]) for e in entries)
            rows += [{**e, "part": part} for e in entries]
        cols = ["clip_id", "part", "offset", "frames"]
        index = pd.DataFrame(rows, columns=None if rows else cols)
        dup = index["clip_id"][index["clip_id"].duplicated(keep=False)]
        if len(dup):
            where = index[index["clip_id"].isin(dup)][["clip_id", "part"]].values.tolist()
            raise StoreError(f"{self.path}: clip ids in more than one part: {where[:10]}")
        index = index.sort_values("clip_id", kind="stable").reset_index(drop=True)
        self.index: pd.DataFrame = index[cols + [c for c in index.columns if c not in cols]]
        self.clip_ids: list[str] = self.index["clip_id"].astype(str).tolist()
        self.frames: np.ndarray = self.index["frames"].to_numpy(np.int64)
        self._offsets = self.index["offset"].to_numpy(np.int64)
        self._parts = self.index["part"].tolist()
        self._row_of = {c: i for i, c in enumerate(self.clip_ids)}
        self._maps: dict[str, np.memmap] = {}

    def parts(self) -> list[str]:
        """Part folder names present, sorted."""
        return sorted(p.name for p in self.path.iterdir() if p.is_dir() and _PART_RE.match(p.name))

    def _map(self, part: str) -> np.memmap:
        if part not in self._maps:
            # the shape covers committed rows only: trailing uncommitted bytes stay unseen
            self._maps[part] = np.memmap(
                self.path / part / DATA_FILE,
                dtype=DTYPE,
                mode="r",
                shape=(self._part_rows[part], self.dim),
            )
        return self._maps[part]

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._row_of

    def row(self, key: int | str) -> int:
        """Row number of a clip id (or check an int row)."""
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"row {key} out of range for a store of {len(self)} clips")
            return int(key) % len(self)
        if key not in self._row_of:
            raise KeyError(f"clip {key!r} is not in the store {self.path}")
        return self._row_of[key]

    def rows(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows of several clip ids, ``np.ndarray[N]`` int64; missing clips are named."""
        clip_ids = [str(c) for c in clip_ids]
        missing = [c for c in clip_ids if c not in self._row_of]
        if missing:
            raise KeyError(
                f"{len(missing)} clip(s) are not in the latent store {self.path}: {missing[:5]} "
                "(was extraction run on a subset, or did clips fail as bad audio?)"
            )
        return np.array([self._row_of[c] for c in clip_ids], dtype=np.int64)

    def get(self, key: int | str) -> np.ndarray:
        """One clip's latent, ``np.ndarray[T x D]`` float16: a memmap slice, no copy."""
        r = self.row(key)
        off = self._offsets[r]
        return self._map(self._parts[r])[off : off + self.frames[r]]

    def get_batch(
        self,
        rows: Sequence[int | str],
        crop_frames: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Equal-length crops of several clips.

        Parameters
        ----------
        rows : sequence of int or str
            Rows or clip ids.
        crop_frames : int, optional
            Frames per clip; None: whole clips, which must then all have the same length.
        rng : np.random.Generator, optional
            Random crop start per clip; None: start at frame 0 (deterministic).

        Returns
        -------
        np.ndarray[B x T x D] float32
        """
        rs = [self.row(k) for k in rows]
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
        for b, (r, f) in enumerate(zip(rs, frames)):
            start = int(rng.integers(0, f - crop_frames + 1)) if rng is not None else 0
            out[b] = self.get(r)[start : start + crop_frames]
        return out

    def completed(self, clip_ids: Iterable[str]) -> bool:
        """Whether every one of ``clip_ids`` is committed."""
        return all(c in self._row_of for c in clip_ids)

    def bad(self) -> pd.DataFrame:
        """Clips rejected for bad audio in any part (clip_id, path, reason)."""
        rows = []
        for part in self.parts():
            f = self.path / part / BAD_FILE
            if f.exists():
                rows += [json.loads(s) for s in f.read_text().splitlines() if s.strip()]
        return pd.DataFrame(rows, columns=["clip_id", "path", "reason"])

    def __getstate__(self) -> dict[str, Any]:
        # memmaps would pickle as full copies: reopen them lazily in the receiving process
        return {**self.__dict__, "_maps": {}}

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
