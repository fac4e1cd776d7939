"""One cache root for datasets, latent stores and runs, and atomic writes.

The root is ``$MVLIB_CACHE`` if set, else ``.mvlib/`` in the project checkout
(or in the working directory when mvlib is installed elsewhere)::

    <root>/datasets/<name>/        synthetic sets (SONYC format), named by config hash
    <root>/latents/<dataset>/<tag>/ latent stores, tag names frontend, weights, rate
    <root>/runs/<run-name>/        training runs, probe results
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "MVLIB_CACHE"
_PROJECT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """The cache root (created on first use)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env).expanduser()
    elif (_PROJECT / "pyproject.toml").exists():
        root = _PROJECT / ".mvlib"
    else:
        root = Path.cwd() / ".mvlib"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """A folder under the cache root, e.g. ``cache_dir("runs", name)``."""
    p = cache_root().joinpath(*parts)
    p.mkdir(parents=True, exist_ok=True)
    return p


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    ``durable=False`` skips the fsync (the rename still makes the write all-or-nothing for
    readers and after a kill); for many small files whose writer syncs once at the end
    before it records them as complete (the synthetic set's wavs, then ``os.sync()``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write strict JSON atomically (sorted keys, indented, numpy scalars converted).

    NaN and infinity are not JSON (strict parsers reject them), so they are refused:
    write ``None`` (null) for an undefined value (see :func:`strict_json`).
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    except ValueError as e:
        raise ValueError(
            f"{path}: {e}; NaN/inf is not valid JSON, write None for an undefined value"
        ) from e
    atomic_write_text(path, text + "\n")


def strict_json(obj: Any, path: str = "", undefined: list | None = None) -> Any:
    """``obj`` with every NaN/inf float replaced by None; their paths appended to ``undefined``."""
    if isinstance(obj, dict):
        return {
            k: strict_json(v, f"{path}.{k}" if path else str(k), undefined) for k, v in obj.items()
        }
    if hasattr(obj, "tolist") and getattr(obj, "ndim", 0) >= 1:
        obj = obj.tolist()  # numpy array
    if isinstance(obj, (list, tuple)):
        return [strict_json(v, f"{path}[{i}]", undefined) for i, v in enumerate(obj)]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()  # numpy scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        if undefined is not None:
            undefined.append(path)
        return None
    return obj


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
