"""One cache root for datasets, latent stores and runs, and atomic writes.

The root is ``$MVLIB_CACHE`` if set; else ``.mvlib/`` in the project checkout when mvlib
runs from one, and the user's cache folder (``$XDG_CACHE_HOME/mvlib``, by default
``~/.cache/mvlib``) when mvlib is an installed package: never the working directory::

    <root>/datasets/<name>/        synthetic sets (SONYC format), named by config hash
    <root>/latents/<dataset>/<tag>/ latent stores, tag names frontend, weights, rate
    <root>/runs/<run-name>/        training runs, probe results

A root that cannot be created or written is a :class:`CacheError` (one line naming
``MVLIB_CACHE`` or the default, and the fix), checked once per process with a probe write.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from mvlib.core.errors import MvlibError
from mvlib.core.resources import checkout_root

CACHE_ENV = "MVLIB_CACHE"
#: roots that passed the probe write in this process
_WRITABLE: set[Path] = set()


class CacheError(MvlibError):
    """The cache root (``$MVLIB_CACHE`` or the default) cannot be created or written."""


def default_cache_root() -> Path:
    """``<checkout>/.mvlib`` in a checkout, else ``$XDG_CACHE_HOME/mvlib`` (``~/.cache/mvlib``)."""
    root = checkout_root()
    if root is not None:
        return root / ".mvlib"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "mvlib"


def cache_root() -> Path:
    """The cache root, created on first use and checked to be writable.

    Raises
    ------
    CacheError
        when the root cannot be created (e.g. ``MVLIB_CACHE`` under a regular file) or a
        file cannot be written in it (read-only or foreign folder).
    """
    env = os.environ.get(CACHE_ENV)
    root = Path(env).expanduser() if env else default_cache_root()
    if root in _WRITABLE and root.is_dir():
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cache_error(root, bool(env), f"cannot be created ({_reason(e)})") from e
    try:  # os.access is not enough (root ignores modes; some file systems refuse creation)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".mvlib-write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise _cache_error(root, bool(env), f"is not writable ({_reason(e)})") from e
    _WRITABLE.add(root)
    return root


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _cache_error(root: Path, from_env: bool, what: str) -> CacheError:
    if from_env:
        return CacheError(
            f"{CACHE_ENV}={root}",
            f"the cache folder {what}",
            f"set {CACHE_ENV} to a folder you can write (e.g. export {CACHE_ENV}=~/mvlib-cache)",
        )
    return CacheError(
        f"{root} (the default cache; {CACHE_ENV} is not set)",
        f"the cache folder {what}",
        f"set {CACHE_ENV} to a folder you can write (e.g. export {CACHE_ENV}=~/mvlib-cache)",
    )


def cache_dir(*parts: str) -> Path:
    """A folder under the cache root, e.g. ``cache_dir("runs", name)``."""
    p = cache_root().joinpath(*parts)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(
            p,
            f"cannot create this cache folder ({_reason(e)})",
            "remove what is in its place, or set MVLIB_CACHE to another folder",
        ) from e
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
