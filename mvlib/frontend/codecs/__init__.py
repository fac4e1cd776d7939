"""The codecs that ship with mvlib: DAC-format weights trained here, each with provenance.

A shipped codec is named in a profile as ``features.dac_weights: <name>`` (with
``features.frontend: dac``). Each is two files of this package: ``<name>.pth``, in DAC's own
format (``dac.DAC.load`` reads it; the architecture is ``metadata["kwargs"]``), and
``<name>.json``, its provenance: commit, command, corpus, steps, CPU time, machine, the
file's sha256 and its quality figures (``benchmarks/codec_curve.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path

__all__ = ["SHIPPED_CODECS", "file_sha256", "shipped_codec", "shipped_provenance", "shipped_sha256"]

#: the shipped codecs' names (``features.dac_weights: <name>``)
SHIPPED_CODECS = ("mvlib-codec-22khz",)


def shipped_codec(name: str) -> Path:
    """The weights file of the shipped codec ``name`` (a path inside the package)."""
    assert name in SHIPPED_CODECS, f"{name!r} is not one of {SHIPPED_CODECS}"
    return Path(str(resources.files(__name__).joinpath(f"{name}.pth")))


def shipped_provenance(name: str) -> dict:
    """The provenance of the shipped codec ``name`` (``<name>.json``)."""
    assert name in SHIPPED_CODECS, f"{name!r} is not one of {SHIPPED_CODECS}"
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())


@functools.lru_cache(maxsize=4)
def shipped_sha256(name: str) -> str:
    """The sha256 of the shipped codec ``name``'s weights file (computed once per process)."""
    return file_sha256(shipped_codec(name))


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
