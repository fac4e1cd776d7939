"""mvlib: latent multi-view self-supervised learning for environmental sound.

Reproduces "Latent Multi-view Learning for Robust Environmental Sound Representations"
(Ding, Wilkins, Fuentes, Bello; https://arxiv.org/abs/2510.02500). Every computation
lives in this package; the Jupyter Book in ``book/`` only orchestrates and explains.

The public API, for a researcher's own code (each name's docstring has an example)::

    import mvlib

    cfg = mvlib.load_config("ci", {"train.epochs": 1})
    result = mvlib.train_run(cfg)
    metrics = mvlib.probe_run(result.run_dir)
    report = mvlib.embed_files(["a.wav", "b.wav"], result.run_dir, "embeddings/")
    table = mvlib.compare_runs(["runs/rec", "runs/mine"], reference="rec")

Everything else is importable from its module (``mvlib.ml.train``, ``mvlib.sweep`` …) but
may change between versions. Errors about the user's input are :class:`MvlibError`.

The names are imported on first use (PEP 562), so that a worker process that needs one
module (``mvlib.data.synth`` in a synthesis worker) does not import torch and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mvlib.core.errors import MvlibError
from mvlib.core.version import __version__

if TYPE_CHECKING:  # what the names are, for readers and type checkers (import-linter too)
    from mvlib.api import (
        embed_files,
        load_config,
        prepare,
        probe_run,
        register_frontend,
        register_objective,
        run_sweep,
        train_run,
    )
    from mvlib.compare import compare_runs

__all__ = [
    "load_config",
    "prepare",
    "train_run",
    "probe_run",
    "run_sweep",
    "embed_files",
    "compare_runs",
    "register_objective",
    "register_frontend",
    "MvlibError",
    "__version__",
]

#: public name -> the module that defines it (imported on first use)
_WHERE = {
    "load_config": "mvlib.api",
    "prepare": "mvlib.api",
    "train_run": "mvlib.api",
    "probe_run": "mvlib.api",
    "run_sweep": "mvlib.api",
    "embed_files": "mvlib.api",
    "register_objective": "mvlib.api",
    "register_frontend": "mvlib.api",
    "compare_runs": "mvlib.compare",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'mvlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
