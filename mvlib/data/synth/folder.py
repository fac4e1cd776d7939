"""Which folders the generator may write: its marker, the manifest, and folder states.

mvlib writes only into a new or empty folder or its own marked set of the same settings.
Its marker, ``synth.json`` (:data:`GENERATION_MARKER`), records the settings, the mvlib
version, whether generation finished, and a manifest of the files (annotations hash,
audio sizes): a finished set changed since is the user's (see :func:`folder_state`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mvlib.core.config import from_dict, to_dict
from mvlib.core.errors import MvlibError
from mvlib.core.synth_config import SynthConfig
from mvlib.core.version import __version__
from mvlib.data.synth.plan import SYNTH_VERSION, audio_filename, set_name

#: the synthetic set's generation marker: settings, completion, manifest of files
GENERATION_MARKER = "synth.json"


class DatasetFolderError(MvlibError):
    """A folder that mvlib may not (re)write: not created by mvlib, another config, or edited."""


def marker(cfg: SynthConfig) -> dict:
    """The marker's identity part for ``cfg`` (settings, set name, versions), as JSON reads it."""
    return json.loads(
        json.dumps(
            {
                "config": to_dict(cfg),
                "dataset": set_name(cfg),
                "synth_version": SYNTH_VERSION,
                "mvlib_version": __version__,
            }
        )
    )


def _is_complete(out: Path, cfg: SynthConfig, stamp: dict | None) -> bool:
    if not (stamp and stamp.get("complete") and stamp.get("config") == marker(cfg)["config"]):
        return False
    if not ((out / "annotations.csv").exists() and (out / "truth.json").exists()):
        return False
    return all(
        (out / "audio" / audio_filename(s, c)).exists()
        for s in range(cfg.n_sensors)
        for c in range(cfg.clips_per_sensor)
    )


def read_marker(out: str | os.PathLike) -> dict | None:
    """The marker of the set in ``out`` (None without one); one line when it is unreadable."""
    out = Path(out)
    path = out / GENERATION_MARKER
    if not path.exists():
        return None
    try:
        stamp = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFolderError(
            path,
            f"mvlib's generation marker is not valid JSON ({e})",
            "delete the folder to regenerate the set, or delete only synth.json to keep the "
            "files as a dataset of your own (mvlib then never writes into it)",
        ) from e
    return stamp if isinstance(stamp, dict) else None


def folder_manifest(out: Path, annotations_text: str | None = None) -> dict:
    """Cheap identity of a generated set: sha256 of annotations.csv, size of every audio file."""
    out = Path(out)
    if annotations_text is None:
        blob = (out / "annotations.csv").read_bytes()
    else:
        blob = annotations_text.encode("utf-8")
    audio = {}
    if (out / "audio").is_dir():
        for entry in os.scandir(out / "audio"):
            if entry.is_file():
                audio[entry.name] = entry.stat().st_size
    return {
        "annotations_sha256": hashlib.sha256(blob).hexdigest(),
        "audio_sizes": dict(sorted(audio.items())),
    }


def _manifest_diff(out: Path, manifest: dict) -> str | None:
    """None when ``out`` still matches ``manifest``, else a short description of the change."""
    if not (out / "annotations.csv").is_file():
        return "annotations.csv was removed"
    now = folder_manifest(out)
    changes = []
    if now["annotations_sha256"] != manifest.get("annotations_sha256"):
        changes.append("annotations.csv changed")
    was, have = manifest.get("audio_sizes", {}), now["audio_sizes"]
    gone = sorted(set(was) - set(have))
    new = sorted(set(have) - set(was))
    resized = sorted(k for k in set(was) & set(have) if was[k] != have[k])
    for n, what in ((len(gone), "removed"), (len(new), "added"), (len(resized), "changed")):
        if n:
            changes.append(f"{n} audio file(s) {what}")
    return ", ".join(changes) or None


def _entries(out: Path):
    """The folder's entries, but for the temp file of a marker write that was killed midway
    (``.synth.json.<random>.tmp``): the folder was new, and mvlib's own."""
    prefix = f".{GENERATION_MARKER}."
    return (p for p in out.iterdir() if not (p.name.startswith(prefix) and p.name.endswith(".tmp")))


def folder_state(out: str | os.PathLike, cfg: SynthConfig | None = None) -> tuple[str, str]:
    """What a folder is to the generator: ``(state, detail)``.

    States: ``"new"`` (absent or empty), ``"complete"`` (mvlib's set of ``cfg``, unchanged),
    ``"incomplete"`` (mvlib's set of ``cfg``, generation not finished: safe to resume),
    ``"other_config"`` (mvlib's set of other settings), ``"edited"`` (mvlib's finished set,
    changed since: files removed, added or rewritten), ``"foreign"`` (files mvlib did not
    write). With ``cfg`` None, any complete set of mvlib's is ``"complete"``.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(_entries(out))):
        return "new", ""
    if not out.is_dir():
        return "foreign", "not a folder"
    stamp = read_marker(out)
    if stamp is None or "config" not in stamp:
        return "foreign", "no synth.json marker"
    if cfg is not None and stamp.get("config") != marker(cfg)["config"]:
        return "other_config", f"set {stamp.get('dataset')!r}, not {set_name(cfg)!r}"
    if not stamp.get("complete"):
        return "incomplete", "generation was interrupted"
    manifest = stamp.get("manifest")
    if manifest is not None:
        diff = _manifest_diff(out, manifest)
    else:  # a marker without a manifest: the files are present or not
        mine = cfg or from_dict(stamp["config"], SynthConfig, "synth")
        diff = None if _is_complete(out, mine, stamp) else "files were removed"
    return ("edited", diff) if diff else ("complete", "")
