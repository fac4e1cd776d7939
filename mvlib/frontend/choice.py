"""Choosing the frontend a config names: ``auto`` resolved, then looked up in the registry.

``features.frontend`` names a frontend registered in :data:`mvlib.core.registry.FRONTENDS`:
the built-ins ``logmel`` and ``dac`` (registered by their modules, imported here), or a
researcher's own, registered from a module the profile lists under ``plugins:``::

    # my_frontend.py
    import mvlib
    from mvlib.frontend.interface import Frontend

    @mvlib.register_frontend("my_codec")
    class MyCodec(Frontend):
        def __init__(self, cfg): ...          # dim, hop, sample_rate, identity, tag, device
        def _features(self, x): ...           # Tensor[B x 1 x N] -> Tensor[B x T x D]

``auto`` (the default profile's) is resolved when a config is loaded for use
(:func:`load_config`, which the CLI calls too, runs :func:`resolve_frontend`), so results
always name the concrete frontend: ``dac`` when pretrained DAC weights are on disk, else
``logmel``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from mvlib.core.config import Config, FeatureConfig, read_profile
from mvlib.core.errors import MvlibError
from mvlib.core.registry import FRONTENDS
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.dac_weights import WeightsError, codec_rates, real_dac_weights_available
from mvlib.frontend.interface import Frontend
from mvlib.frontend.logmel import LogMelFrontend

__all__ = [
    "with_frontend",
    "BUILTIN_FRONTENDS",
    "frontend_name",
    "load_config",
    "make_frontend",
    "resolve_frontend",
]

#: the frontends mvlib ships (their identities are the stores' and must not change)
BUILTIN_FRONTENDS = {"logmel": LogMelFrontend, "dac": DACFrontend}
_TAG_RE = re.compile(r"[A-Za-z0-9._-]+")
_FIX_SEE = "see book/extending.md"


def frontend_name(cfg: FeatureConfig) -> str:
    """The concrete frontend ``cfg.frontend`` names: ``auto`` -> ``dac`` (real DAC weights
    on disk) or ``logmel``; any other name as it is."""
    if cfg.frontend != "auto":
        return cfg.frontend
    return "dac" if real_dac_weights_available(cfg) else "logmel"


def resolve_frontend(cfg: Config) -> Config:
    """The config with ``features.frontend: auto`` replaced by the concrete frontend, and,
    for ``dac``, ``features.sample_rate`` and ``features.hop`` read from the weights file
    (the 44.1 kHz codec, the shipped codec or a user's DAC checkpoint)."""
    concrete = frontend_name(cfg.features)
    changes: dict[str, Any] = {}
    if concrete != cfg.features.frontend:
        changes["features.frontend"] = concrete
    if concrete == "dac":
        try:
            rates = codec_rates(cfg.features)
        except WeightsError:  # a bad file: building the frontend names what is wrong with it
            rates = None
        if rates is not None:
            sample_rate, hop = rates
            if (cfg.features.sample_rate, cfg.features.hop) != rates:
                changes.update({"features.sample_rate": sample_rate, "features.hop": hop})
    return cfg.replace(changes) if changes else cfg


def with_frontend(cfg: Config, frontend: str, dac_weights: str | None = None) -> Config:
    """``cfg`` with another frontend, resolved: ``logmel``, or ``dac`` on ``dac_weights``.

    The sample rate and hop are the 44.1 kHz model's (log-mel keeps DAC's frame rate) unless
    the weights name others (read from the file, :func:`resolve_frontend`): chapter 2 sets
    log-mel, random DAC and a trained codec side by side from one profile this way.
    """
    base = {"features.frontend": frontend, "features.dac_weights": dac_weights}
    base.update({"features.sample_rate": 44100, "features.hop": 512})
    return resolve_frontend(cfg.replace(base))


def load_config(
    profile: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Load a profile and apply overrides: the one resolved config of a run.

    :func:`mvlib.core.config.read_profile` reads and validates the profile as written, then
    :func:`resolve_frontend` makes its frontend concrete. This step lives in the frontend
    layer, not in core, because it reads what only this layer knows: whether pretrained DAC
    weights are on disk (:func:`~mvlib.frontend.dac_weights.real_dac_weights_available`),
    and, for ``dac``, the sample rate and hop in the weights file's metadata, which torch
    loads (:func:`~mvlib.frontend.dac_weights.codec_rates`). Core sits below every other
    layer and imports neither torch nor the frontends, so a config read by core alone keeps
    ``features.frontend: auto``.

    Parameters
    ----------
    profile : a profile name (``ci``, ``default``, ``paper``: mvlib's own, the files of
        ``params/``) or the path of a YAML file (``inherits: ci`` in it starts from a named
        one); None: ``$MVLIB_PROFILE`` or ``default``
    overrides : dotted keys to values, e.g. ``{"train.epochs": 1}`` (as ``--set`` does)

    Returns
    -------
    Config
        Frozen and validated, with ``features.frontend: auto`` resolved to the concrete
        frontend (``dac`` when pretrained DAC weights are on disk, else ``logmel``). A
        profile or override that does not fit raises a one-line :class:`MvlibError`.

    Examples
    --------
    >>> import mvlib
    >>> cfg = mvlib.load_config("ci", {"train.epochs": 1})
    >>> cfg.train.epochs, cfg.features.frontend
    (1, 'logmel')
    """
    return resolve_frontend(read_profile(profile, overrides))


def make_frontend(cfg: FeatureConfig) -> Frontend:
    """The frontend named by ``cfg.frontend``, built from ``cfg``.

    Parameters
    ----------
    cfg : FeatureConfig
        ``frontend`` is a registered name (``logmel``, ``dac``, a plugin's) or ``auto``.

    Raises
    ------
    MvlibError
        An unknown name (the registered ones are listed), or a plugin frontend that lacks
        what extraction needs (``dim``, ``hop``, ``sample_rate``, ``identity``, a callable).
    """
    name = frontend_name(cfg)
    factory = FRONTENDS.get(name)
    frontend = factory(cfg)
    if BUILTIN_FRONTENDS.get(name) is factory:
        return frontend
    return _checked_plugin(frontend, name, factory)


def _checked_plugin(frontend: Any, name: str, factory: Any) -> Any:
    """A plugin's frontend, checked, with its name and class recorded in its identity.

    Its identity (what made the features) goes into every store header, so stores of two
    plugins, or of one plugin's two settings, never mix; a missing folder tag is derived
    from the identity.
    """
    where = f"features.frontend={name}"
    origin = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}"
    fix = f"a frontend sets dim, hop, sample_rate and identity and is callable; {_FIX_SEE}"
    for attr in ("dim", "hop", "sample_rate"):
        value = getattr(frontend, attr, None)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise MvlibError(where, f"{origin}: {attr} is {value!r}, not a positive int", fix)
    identity = getattr(frontend, "identity", None)
    if not isinstance(identity, dict) or not callable(frontend):
        raise MvlibError(where, f"{origin}: no identity dict, or not callable", fix)
    try:
        text = json.dumps(identity, sort_keys=True)
    except TypeError as e:
        raise MvlibError(where, f"{origin}: identity is not JSON ({e})", fix) from e
    identity = {"frontend": name, "plugin": origin, **identity}
    frontend.identity = identity
    if not getattr(frontend, "name", None):
        frontend.name = name
    tag = getattr(frontend, "tag", None)
    if tag is None:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        frontend.tag = f"{name}-{digest}"
    elif not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise MvlibError(
            where, f"{origin}: tag {tag!r} is not folder-safe", "use letters, digits, '.', '_', '-'"
        )
    return frontend
