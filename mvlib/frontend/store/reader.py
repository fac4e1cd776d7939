"""Reading a latent store: the live clips of all its parts, memory-mapped, as one store.

Reading never loads the data: each part is one ``np.memmap`` and a clip is a slice of it
(full SONYC at DAC is ~32 GB). Only committed clips show, so reading while a writer appends
is safe; parts of any shard layout (``--shard i/N`` for any N) are read together.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mvlib.core.errors import MvlibError
from mvlib.frontend.store.format import (
    BAD_FILE,
    DATA_FILE,
    DTYPE,
    StoreError,
    check_part,
    entry_uid,
    iter_index,
    list_parts,
    lost_error,
    read_header,
    read_index,
    read_retired,
)


class ClipTooShortError(MvlibError, ValueError):
    """Clips shorter than the crop a batch asks for (``train.crop_frames``)."""


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
            if entry_uid(e) in retired:
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
            raise lost_error(part_dir, data_bytes, lost, self.dim)
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
            shortest = min(f for _, f in short)
            names = ", ".join(f"{c} ({f} frames)" for c, f in short[:5])
            raise ClipTooShortError(
                f"clip(s) {names}{' ...' if len(short) > 5 else ''} of {self.path}",
                f"shorter than the crop of train.crop_frames={crop_frames} frames",
                f"lower train.crop_frames to at most {shortest}, or drop or lengthen the clip(s)",
            )
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
