"""Where mvlib finds its own files: the profiles, the project checkout and its book.

mvlib runs from two kinds of installation:

* **a checkout** (``git clone`` + ``pip install -e .``, or ``python -m mvlib`` inside it):
  the profiles are the checkout's ``params/`` and the book is its ``book/``;
* **an installed wheel** (``pip install mvlib-*.whl``, anywhere): the build copied
  ``params/*.yml`` into the package (``mvlib/params/``, see ``setup.py``), read here through
  :mod:`importlib.resources`; there is no book.

``params/`` at the top of the repository stays the one source of the profiles.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # .../mvlib


def checkout_root() -> Path | None:
    """The mvlib source checkout this package was imported from, or None when installed.

    A checkout is the folder above the package that holds mvlib's own ``pyproject.toml``.
    """
    root = _PACKAGE.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "mvlib"' in text else None


def params_dir() -> Path:
    """The folder of the named profiles (``ci``, ``default``, ``paper`` …).

    The packaged copy (``mvlib/params`` in a wheel) if the build made one, else the
    checkout's ``params/``.
    """
    packaged = importlib.resources.files("mvlib").joinpath("params")
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    root = checkout_root()
    if root is not None and (root / "params").is_dir():
        return root / "params"
    return Path(str(packaged))  # missing: the caller names it in its error


def book_dir() -> Path | None:
    """The checkout's ``book/`` (the chapters), or None when mvlib is installed without it."""
    root = checkout_root()
    if root is not None and (root / "book").is_dir():
        return root / "book"
    return None
