"""The identity of a clip's audio file, recorded in every index line of a latent store.

Size and modification time are the cheap part (checked on every extraction); the SHA-256 of
the bytes decides when they differ, or always under ``--verify``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

#: the per-clip audio identity recorded in every index line
SOURCE_KEYS = ("source_size", "source_mtime_ns", "source_sha256")


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
