"""Paths built from data stay inside their folder: the one rule for names that data gives.

A dataset's ``annotations.csv`` names its clips' audio (``audio_filename``), a latent store
records clip ids, an embed manifest lists input files, ``mvlib labels`` writes file names.
Each such name is joined to a folder (``<dataset>/audio/<name>``) and must stay in it: an
annotations file from a shared drive or a download must not decide which files on the
machine mvlib reads or writes. :func:`safe_member_name` is that rule, for every caller.

The rule is about the *name*, not where the path finally leads: a symlink that the user
placed inside ``audio/`` (to a file or a folder of large audio elsewhere) stays allowed, as
users link large audio folders; only the text of the name is judged, nothing is resolved.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath, PureWindowsPath

from mvlib.core.errors import MvlibError

__all__ = ["UnsafeNameError", "safe_member_name", "unsafe_reason"]

#: a Windows drive (``C:``) or UNC start (``\\host``) makes a name absolute there
_WINDOWS_ROOT = re.compile(r"^(?:[A-Za-z]:|[\\/]{2})")


class UnsafeNameError(MvlibError, ValueError):
    """A name from data that would leave its folder (absolute, or with a ``..`` part)."""


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` may not be joined to a folder, or None when it may.

    Refused: an empty name, a NUL character, an absolute path (``/x``, ``C:x``,
    ``\\\\host\\x``), and a ``..`` component anywhere (``../x``, ``a/../../x``; ``/`` and
    ``\\`` both separate components here, so a name means the same on every system).
    """
    if not isinstance(name, str) or name.strip() == "":
        return "is empty"
    if "\0" in name:
        return "holds a NUL character"
    if PurePosixPath(name).is_absolute() or _WINDOWS_ROOT.match(name):
        return "is an absolute path"
    if PureWindowsPath(name).is_absolute():
        return "is an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "has a '..' component"
    return None


def safe_member_name(name: str, where: str | os.PathLike, what: str = "file name") -> str:
    """``name`` itself when it is a relative path that stays inside the folder it is joined to.

    Use it wherever mvlib builds a path from a name that data gives (``audio_filename`` of an
    annotations file, a store's clip id, an embed manifest entry, a labels table row)::

        name = safe_member_name(row["audio_filename"], f"{csv_path}: line {line}")
        path = root / "audio" / name

    Parameters
    ----------
    name : str
        The name as the data gives it.
    where : str or PathLike
        Where it comes from, for the message: a file and line (``"ds/annotations.csv: line
        7"``), a store, a manifest.
    what : str
        What the name is (``"audio_filename"``, ``"clip id"``), for the message.

    Returns
    -------
    str
        ``name``, unchanged: nothing is resolved, so a symlink placed inside the folder
        (to a file or folder elsewhere) stays allowed.

    Raises
    ------
    UnsafeNameError
        (an :class:`~mvlib.core.errors.MvlibError`, one line) naming ``where``, ``what`` and
        the value when the name is empty, absolute, or has a ``..`` component.
    """
    why = unsafe_reason(name)
    if why is not None:
        raise UnsafeNameError(
            where,
            f"{what} {name!r} {why}; a name from data must stay inside its folder",
            "give a path relative to the folder, without '..' (a symlink inside the folder "
            "may point elsewhere); mvlib read nothing",
        )
    return name
