"""Named extension points: objectives and frontends that a config can name.

A researcher adds an objective or a frontend without editing mvlib: their own module
registers it under a name, and the profile names that module under ``plugins:`` and the
name under ``objective.objective`` (or ``features.frontend``)::

    # my_objective.py (anywhere on the Python path)
    import mvlib

    @mvlib.register_objective("rec_l1")
    def rec_l1(out, x1, x2, cfg, gather):
        ...

    # my_profile.yml
    inherits: ci
    plugins: [my_objective]
    objective: {objective: rec_l1}

:func:`mvlib.core.config.read_profile` imports the ``plugins`` modules (with
:func:`load_plugins`) before it validates the config, so that the one resolved config
carries them to every process that rebuilds it: sweep workers, torchrun ranks and
papermill kernels. ``book/extending.md`` has a worked example.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mvlib.core.errors import MvlibError

_FIX_SEE = "see book/extending.md"


class Registry:
    """Names mapped to objects (functions, classes) for one config field.

    Parameters
    ----------
    kind : str
        The config field that names an entry (``"objective.objective"``); it is the
        culprit of the error for an unknown name.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        Registering the same object twice under one name is harmless (a module imported
        twice); a different object under a taken name raises :class:`MvlibError`.

        Examples
        --------
        >>> reg = Registry("example.kind")
        >>> @reg.register("double")
        ... def double(x):
        ...     return 2 * x
        >>> reg.get("double")(3)
        6
        """
        if not isinstance(name, str) or not name.strip():
            raise MvlibError(repr(name), f"is not a valid {self.kind} name", "use a word")
        if obj is None:

            def decorator(o: Any) -> Any:
                self.register(name, o)
                return o

            return decorator
        old = self._entries.get(name)
        if old is not None and old is not obj and _qualname(old) != _qualname(obj):
            raise MvlibError(
                name,
                f"{self.kind} {name!r} is already registered (by {_qualname(old)})",
                "choose another name",
            )
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> Any:
        """The object registered under ``name``; :class:`MvlibError` for an unknown name."""
        try:
            return self._entries[name]
        except KeyError:
            raise MvlibError(
                self.kind,
                f"unknown {self.kind.split('.')[-1]} {name!r}",
                f"one of {self.names()}; or register it: {_FIX_SEE}",
            ) from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


#: training objectives of the multi-view model, named by ``objective.objective``
OBJECTIVES = Registry("objective.objective")
#: audio frontends, named by ``features.frontend``
FRONTENDS = Registry("features.frontend")

_loaded: set[str] = set()


def load_plugins(modules: Iterable[str]) -> None:
    """Import each named module once, so that its registrations run.

    Parameters
    ----------
    modules : module names (``my_objective``, ``mypkg.frontends``), importable from
        ``sys.path`` (``PYTHONPATH`` or an installed package), or paths of ``.py`` files
        (a profile's relative paths are made absolute by :func:`mvlib.core.config.read_profile`).

    Raises
    ------
    MvlibError
        A module that cannot be imported, with the reason in one line.
    """
    for name in modules:
        if name in _loaded:
            continue
        try:
            if name.endswith(".py"):
                _import_file(Path(name))
            else:
                importlib.import_module(name)
        except (ImportError, FileNotFoundError) as e:
            raise MvlibError(
                f"plugins: {name}",
                f"cannot import plugin module {name!r} ({' '.join(str(e).split())})",
                "put its folder on PYTHONPATH or install it; " + _FIX_SEE,
            ) from e
        _loaded.add(name)


def _import_file(path: Path) -> None:
    """Import a ``.py`` file as module ``mvlib_plugin_<stem>`` (once per process)."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file {path}")
    name = f"mvlib_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
