"""One writer per synthetic set: the generation lock.

Whatever generates a set (``mvlib synth``, :func:`mvlib.data.dataset.ensure_dataset` for
``train``, ``extract``, a sweep worker, a chapter) holds the set's lock while it decides what
the folder is and writes it::

    with generation_lock(out):
        ...  # folder_state(out) and generate: nobody else writes this set meanwhile

A second process waits (saying once, on the log, who generates the set), then finds the set
finished and uses it: it never sees a set half-written, so it never calls it foreign.

The lock is a ``filelock`` lock (``flock``) in the cache, ``<cache>/locks/datasets/<name>-
<hash of the folder's resolved path>.lock``, never in the dataset folder (a user's folder
stays unwritten; a set being generated holds only the generator's files). Its holder records
its PID, host and start time beside it (``.lock.json``). A killed holder (``kill -9``) leaves no lock behind, and the next generation resumes the
interrupted set (valid wavs are kept); the rules by which a dead holder is taken over and
how the lock behaves on network file systems are those of :mod:`mvlib.core.ownedlock`,
which this module names for synthetic sets. Processes on several hosts exclude each other
only when they share the cache (``MVLIB_CACHE``).

The lock is re-entrant within a process (``generate`` inside ``ensure_dataset``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from mvlib.core import ownedlock
from mvlib.core.cache import cache_dir

log = logging.getLogger(__name__)


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file of the set in folder ``out`` (in the cache, named by the folder)."""
    resolved = Path(out).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return cache_dir("locks", "datasets") / f"{resolved.name}-{digest}.lock"


def holder(lock: Path) -> dict | None:
    """The recorded holder of a lock (``pid``, ``host``, ``since``, ``folder``), or None."""
    return ownedlock.read_record(lock.with_suffix(".lock.json"))


@contextlib.contextmanager
def generation_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold the generation lock of the set in folder ``out`` while the block runs.

    Waits for another process that holds it (a set being generated), saying once who it is.
    """
    out = Path(out)
    path = lock_path(out)

    def waiting(info):
        log.warning(
            "%s: %s is generating this dataset; waiting for it to finish",
            out,
            ownedlock.describe(info),
        )

    def takeover(info):
        log.warning(
            "%s: its generator (%s) no longer runs; taking the set over",
            out,
            ownedlock.describe(info),
        )

    with ownedlock.owned_lock(
        path,
        path.with_suffix(".lock.json"),
        wait=True,
        extra={"folder": str(out.expanduser().resolve())},
        on_wait=waiting,
        on_takeover=takeover,
    ):
        yield
