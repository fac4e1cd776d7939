"""mvlib: latent multi-view self-supervised learning for environmental sound.

Reproduces "Latent Multi-view Learning for Robust Environmental Sound Representations"
(Ding, Wilkins, Fuentes, Bello; https://arxiv.org/abs/2510.02500). Every computation
lives in this package; the Jupyter Book in ``book/`` only orchestrates and explains.

The public API, for a researcher's own code (each name's docstring has an example)::

    import mvlib

    cfg = mvlib.load_config("ci", {"train.epochs": 1})
    result = mvlib.train_run(cfg)
    metrics = mvlib.probe_run(result.run_dir)
    encoder = mvlib.load_model(result.run_dir)  # Tensor[B x T x D_in] -> Tensor[B x T x D]
    report = mvlib.embed_files(["a.wav", "b.wav"], result.run_dir, "embeddings/")
    table = mvlib.compare_runs(["runs/rec", "runs/mine"], reference="rec")
    codec = mvlib.train_codec(cfg)  # a DAC-architecture codec on its own corpus (resumes)

Everything else is importable from its module (``mvlib.ml.train``, ``mvlib.sweep`` …) but
may change between versions. Errors about the user's input are :class:`MvlibError`.

The names are imported on first use (PEP 562), so that ``import mvlib`` (and ``mvlib --help``)
imports no torch, numpy or pandas, and a worker process that needs one module
(``mvlib.data.synth`` in a synthesis worker) does not import the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mvlib.core.errors import MvlibError
from mvlib.core.version import __version__

if TYPE_CHECKING:  # what the names are, for readers and type checkers (import-linter too)
    from mvlib.api import (
        embed_files,
        load_model,
        prepare,
        probe_run,
        register_frontend,
        register_objective,
        run_sweep,
        train_run,
    )
    from mvlib.compare import compare_runs
    from mvlib.frontend.choice import load_config
    from mvlib.ml.codec.trainer import train_codec

__all__ = [
    "load_config",
    "prepare",
    "train_run",
    "probe_run",
    "run_sweep",
    "embed_files",
    "load_model",
    "compare_runs",
    "train_codec",
    "register_objective",
    "register_frontend",
    "MvlibError",
    "__version__",
]

#: public name -> the module that defines it (imported on first use)
_WHERE = {
    "load_config": "mvlib.frontend.choice",
    "prepare": "mvlib.api",
    "train_run": "mvlib.api",
    "probe_run": "mvlib.api",
    "run_sweep": "mvlib.api",
    "embed_files": "mvlib.api",
    "load_model": "mvlib.api",
    "register_objective": "mvlib.api",
    "register_frontend": "mvlib.api",
    "compare_runs": "mvlib.compare",
    "train_codec": "mvlib.ml.codec.trainer",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'mvlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
