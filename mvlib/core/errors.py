"""mvlib's own errors: one line that names the culprit, what is wrong and what to do.

Every error that mvlib raises about a user's input (a config, a dataset, a store, a run)
derives from :class:`MvlibError`. The command line prints it as::

    mvlib: error: <culprit>: <what is wrong>; <what to do>

and exits with status 2, without a traceback (``mvlib --debug …`` shows it). Library
users catch :class:`MvlibError` (or a subclass) and read ``culprit``, ``what`` and ``fix``.
"""

from __future__ import annotations

import os

EXIT_CODE = 2


class MvlibError(Exception):
    """An error about the user's input, with the culprit and a fix.

    Parameters
    ----------
    culprit : the file, folder, field or value at fault (a path is shown as given)
    what : what is wrong with it
    fix : what to do about it (may be empty when there is nothing to do)

    Examples
    --------
    >>> import mvlib
    >>> try:
    ...     mvlib.load_config("ci", {"train.epochs": -1})
    ... except mvlib.MvlibError as e:
    ...     print(e.culprit)
    train.epochs
    """

    def __init__(self, culprit: str | os.PathLike, what: str, fix: str = ""):
        self.culprit = str(culprit)
        self.what = what
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        """``<culprit>: <what is wrong>; <what to do>`` on one line."""
        text = f"{self.culprit}: {self.what}"
        if self.fix:
            text += f"; {self.fix}"
        return " ".join(text.split())  # one line, whatever the parts held

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.culprit, self.what, self.fix))


def from_os_error(err: OSError) -> MvlibError:
    """An operating-system error about a file the user named, as a one-line :class:`MvlibError`.

    For the command line: a path that does not exist, cannot be read, or sits on a full or
    read-only disk is the user's to fix. ``err.filename`` must be set.
    """
    culprit = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
    return MvlibError(
        culprit,
        err.strerror or type(err).__name__,
        "check the path, its permissions and the free space (mvlib --debug shows the traceback)",
    )


def format_error(err: BaseException) -> str:
    """The one line the command line prints for ``err``."""
    if isinstance(err, MvlibError):
        return f"mvlib: error: {err.line()}"
    text = " ".join(str(err).split()) or type(err).__name__
    return f"mvlib: error: {text}"
