"""One resolved config, end to end: hand it to another process, check what a run saved.

A process that starts another (the sweep starting a worker, papermill starting a chapter)
never passes a profile *name* to be resolved again: it saves the whole resolved
:class:`~mvlib.core.config.Config` as YAML (:func:`save_resolved`) and passes that file's path;
the receiver reads it back with :func:`load_resolved`, which applies no profile, no
``inherits`` and no ``frontend: auto`` resolution. After a run, :func:`check_saved`
compares the ``config.yaml`` the run wrote with the config it was asked to run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mvlib.core import config as cfgmod
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError

#: the file a run folder holds its resolved config in (written by :func:`mvlib.ml.train.train`)
RUN_CONFIG = "config.yaml"


class RunConfigMismatch(MvlibError):
    """A run folder holds (or a process ran) another config than the one asked for."""


def save_resolved(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config (every field) as YAML, atomically; returns the path."""
    cfgmod.save_yaml(cfg, path)
    return Path(path)


def load_resolved(path: str | os.PathLike) -> Config:
    """Read a config written by :func:`save_resolved` (or a run's ``config.yaml``) as is."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MvlibError(
            path, "no such resolved config file", "pass the config.yaml a sweep or run wrote"
        ) from None
    except yaml.YAMLError as e:
        raise MvlibError(path, f"not valid YAML ({' '.join(str(e).split())})", "") from None
    if not isinstance(data, dict):
        raise MvlibError(path, "not a resolved config (expected a YAML mapping)", "")
    if "inherits" in data:
        raise MvlibError(
            path,
            "is a profile (it has 'inherits'), not a resolved config",
            "pass it as the profile instead (--profile / -p profile)",
        )
    try:
        return cfgmod.from_dict(data)
    except (cfgmod.ConfigError, TypeError, ValueError) as e:
        raise MvlibError(path, f"not a valid resolved config ({e})", "") from None


def diff(want: Any, have: Any, where: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (sorted)."""
    if isinstance(want, dict) and isinstance(have, dict):
        out = []
        for k in sorted(set(want) | set(have), key=str):
            out += diff(want.get(k), have.get(k), f"{where}.{k}" if where else str(k))
        return out
    return [] if want == have else [where or "config"]


def describe(keys: list[str], want: dict, have: dict, limit: int = 4) -> str:
    """``train.epochs=3 (asked 5), ...`` for the first few differing keys."""

    def get(d, key):
        for part in key.split("."):
            d = d.get(part) if isinstance(d, dict) else None
        return d

    parts = [f"{k}={get(have, k)!r} (asked {get(want, k)!r})" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(parts) + more


def check_saved(run_dir: str | os.PathLike, want: Config) -> None:
    """Raise :class:`RunConfigMismatch` unless ``run_dir/config.yaml`` is exactly ``want``."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.exists():
        raise RunConfigMismatch(
            path, "missing: the run saved no resolved config", "rerun it (delete the folder)"
        )
    have = cfgmod.to_dict(load_resolved(path))
    want_d = cfgmod.to_dict(want)
    keys = diff(want_d, have)
    if keys:
        raise RunConfigMismatch(
            path,
            f"the run ran another config than was asked: {describe(keys, want_d, have)}",
            "delete the run folder and run it again",
        )
