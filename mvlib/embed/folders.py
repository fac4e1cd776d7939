"""Embedding batches of audio files into an output folder (``mvlib embed``).

Inputs are files, folders (searched recursively for audio suffixes) and glob patterns; each
file is embedded by an :class:`~mvlib.embed.audio.AudioEmbedder` (a trained
run's frontend and encoder). A file that cannot be read (corrupt, empty, silent, too short,
> 2 channels…) is skipped with its reason; the batch never stops for one file.

The output folder is new, empty or one this command made (its marker, :data:`EMBED_MARKER`).
Every name written there, the outputs named in its ``manifest.json`` and in the per-file
``<name>.done.json`` records, is one plain file name inside it: an input's name, a record
read back for a resumed command, never leads outside the folder.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm  # text bars: widget bars would need ipywidgets and a live kernel

from mvlib.core.cache import atomic_write_bytes, atomic_write_json
from mvlib.data.paths import UnsafeNameError, safe_member_name
from mvlib.embed.audio import AudioEmbedder, EmbedError, FileEmbedding
from mvlib.frontend.audio import BadAudioError

__all__ = [
    "AUDIO_SUFFIXES",
    "EMBED_GRANULARITIES",
    "FORMATS",
    "EMBED_MARKER",
    "DONE_SUFFIX",
    "OUTPUT_KINDS",
    "EmbedReport",
    "embed_audio_files",
    "expand_inputs",
    "output_names",
]

#: file name suffixes taken from folders (soundfile's formats; an explicit file is always tried)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".au", ".mp3", ".opus", ".w64")
EMBED_GRANULARITIES = ("clip", "frame", "both")  #: what ``mvlib embed`` writes per file
FORMATS = ("npy", "npz")
EMBED_MARKER = ".mvlib-embed.json"  #: marks an output folder as made by ``mvlib embed``
#: per-file completion record of the npy format (lets an interrupted command resume)
DONE_SUFFIX = ".done.json"
#: output file suffix of the npy format -> what it holds
OUTPUT_KINDS = {".npy": "clip", ".frames.npy": "frames", ".times.npy": "times"}

log = logging.getLogger(__name__)


def expand_inputs(inputs) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Files, folders (searched recursively for audio suffixes) and glob patterns.

    Returns
    -------
    files : list of (path, name) in input order, duplicates removed; ``name`` is the path
        relative to the folder it was found in (or the file name), used for outputs
    missing : list of (input, reason) for inputs that matched nothing
    """
    files: list[tuple[Path, str]] = []
    missing: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(p: Path, name: str) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append((p, name))

    for item in inputs:
        item = str(item)
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(
                q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_SUFFIXES
            )
            if not found:
                missing.append((item, f"folder holds no audio file ({', '.join(AUDIO_SUFFIXES)})"))
            for q in found:
                add(q, q.relative_to(p).as_posix())
        elif p.is_file():
            add(p, p.name)
        elif glob.has_magic(item):
            found = sorted(Path(q) for q in glob.glob(os.path.expanduser(item), recursive=True))
            found = [q for q in found if q.is_file()]
            if not found:
                missing.append((item, "the pattern matched no file"))
            for q in found:
                add(q, q.name)
        else:
            missing.append((item, "no such file or folder"))
    return files, missing


def output_names(names: list[str]) -> list[str]:
    """Folder-safe, unique output stems: ``a/b.wav`` -> ``a__b``; repeats get ``-2``, ``-3``.

    ``:`` becomes ``_`` (``C:x`` is a path on Windows).

    Each stem is one plain file name (no separator, never ``.`` or ``..``), so that every
    output ``<stem><suffix>`` lies directly inside the output folder.
    """
    out, used = [], set()
    for name in names:
        stem = name.rsplit(".", 1)[0] if "." in Path(name).name else name
        # separators become "__"; a drive colon ("C:") would make the name absolute on Windows
        stem = stem.replace("/", "__").replace("\\", "__").replace(":", "_").replace("\0", "")
        if not stem.strip(". "):  # "", ".", "..", blanks: no name of its own
            stem = "audio"
        cand, k = stem, 1
        while cand in used:
            k += 1
            cand = f"{stem}-{k}"
        used.add(cand)
        out.append(_plain_name(cand, name))
    return out


def _plain_name(name: str, where) -> str:
    """``name`` when it is one file name inside a folder (:func:`safe_member_name`, and no
    separator); :class:`~mvlib.data.paths.UnsafeNameError` otherwise."""
    safe_member_name(name, where, "output name")
    if "/" in name or "\\" in name:
        raise UnsafeNameError(
            where,
            f"output name {name!r} has a folder separator; outputs are plain file names",
            "report this: mvlib makes output names without separators",
        )
    return name


# --------------------------------------------------------------------------- batches


@dataclass
class EmbedReport:
    """What :func:`embed_audio_files` did: one entry per embedded file, and every skipped input."""

    out: Path
    identity: dict
    files: list[dict]  #: per file: source, name, outputs, shapes, info
    failed: list[tuple[str, str]]  #: (input, reason)
    seconds: float = 0.0
    results: list[FileEmbedding] = field(default_factory=list, repr=False)
    reused: int = 0  #: files whose outputs an earlier command had already written

    def summary(self) -> str:
        """Shapes per file, then every skipped input with its reason."""
        lines = []
        for f in self.files:
            inf = f["info"]
            shapes = ", ".join(f"{k} {tuple(v)}" for k, v in f["shapes"].items())
            lines.append(
                f"{f['source']}: {inf['source_sample_rate']} Hz x {inf['source_channels']} ch, "
                f"{inf['source_seconds']:g} s -> {inf['windows']} window(s); {shapes}"
            )
        if self.reused:
            lines.append(f"{self.reused} file(s) already embedded by an earlier command: reused")
        lines.append(
            f"{len(self.files)} file(s) embedded into {self.out} in {self.seconds:.1f} s "
            f"({self.identity['subspace']}, frontend {self.identity['frontend'].get('frontend')} "
            f"weights {self.identity['frontend'].get('weights')})"
        )
        if self.failed:
            lines.append(f"{len(self.failed)} input(s) skipped:")
            lines += [f"  {src}: {why}" for src, why in self.failed]
        return "\n".join(lines)


def _prepare_out(out: Path) -> Path:
    """The output folder: new, empty, or one this command made before (its marker)."""
    if out.exists() and not out.is_dir():
        raise EmbedError(out, "exists and is not a folder", "give a folder name for --out")
    if out.is_dir() and any(out.iterdir()) and not (out / EMBED_MARKER).is_file():
        raise EmbedError(
            out,
            "folder is not empty and was not made by `mvlib embed`",
            "choose a new or empty folder (mvlib writes only into folders it made)",
        )
    out.mkdir(parents=True, exist_ok=True)
    if not (out / EMBED_MARKER).is_file():  # marked first: a killed run can be rerun into it
        atomic_write_json(out / EMBED_MARKER, {"made_by": "mvlib embed"})
    return out


def embed_audio_files(
    inputs,
    run_dir,
    out=None,
    subspace: str = "both",
    granularity: str = "clip",
    fmt: str = "npy",
    which: str = "best",
    window_s: float | None = None,
    device: str = "cpu",
    progress: bool = True,
    embedder: AudioEmbedder | None = None,
) -> EmbedReport:
    """Embed audio files, folders and globs with a trained run (``mvlib embed``).

    Parameters
    ----------
    inputs : files, folders (recursive) or glob patterns
    run_dir : the run (see :class:`AudioEmbedder`)
    out : output folder (made, and marked as mvlib's), or None to only return the arrays
        (``EmbedReport.results``), e.g. in a notebook
    subspace : "z_p" | "z_s" | "both"
    granularity : "clip" (time mean per file), "frame" (per frame, with times) or "both"
    fmt : "npy" (``<name>.npy`` clip ``[D]``, ``<name>.frames.npy`` ``[T x D]``,
        ``<name>.times.npy`` ``[T]`` per file) or "npz" (one ``embeddings.npz`` table:
        ``files [N]``, ``clip [N x D]``, ``frames [ΣT x D]``, ``frame_file [ΣT]``,
        ``frame_time [ΣT]``, ``source_sample_rate [N]``, ``source_channels [N]``)

    Every output folder also gets ``manifest.json``: the run, frontend and weights identity,
    per file its source, rate, channels, resampling, downmix, windows and outputs, and the
    skipped inputs with their reasons. A file that cannot be read is skipped, never fatal.
    With ``npy``, each file's outputs are completed by ``<name>.done.json`` (its source's
    size and mtime, and a hash of the settings): a command rerun into the same folder, e.g.
    after a kill, reuses those files and embeds only the others (``EmbedReport.reused``).
    """
    _check_granularity_and_format(granularity, fmt)
    t0 = time.perf_counter()
    emb = embedder or AudioEmbedder(run_dir, subspace, which, window_s, device)
    files, failed = expand_inputs(inputs)
    if not files and not failed:
        raise EmbedError("inputs", "none given", "name files, folders or glob patterns")
    out = _prepare_out(Path(out)) if out is not None else None
    names = output_names([n for _, n in files])
    want_clip = granularity in ("clip", "both")
    want_frames = granularity in ("frame", "both")
    results: list[FileEmbedding] = []
    records: list[dict] = []
    settings_key = _settings_key(emb.identity, granularity)
    reused = 0
    for (path, _), name in zip(tqdm(files, desc="embed", unit="file", disable=not progress), names):
        if out is not None and fmt == "npy":
            done = _reuse(out, name, path, settings_key)
            if done is not None:  # finished by an earlier, interrupted or repeated command
                res, record = done
                results.append(res)
                records.append(record)
                reused += 1
                continue
        done = _embed_one(emb, path, name, out, fmt, want_clip, want_frames, settings_key, failed)
        if done is not None:
            res, record = done
            results.append(res)
            records.append(record)
    if out is not None and fmt == "npz" and results:
        _save_table(out / "embeddings.npz", results, want_clip, want_frames)
    report = EmbedReport(
        out, emb.identity, records, failed, time.perf_counter() - t0, results, reused
    )
    if out is not None:
        _write_manifest(out, emb.identity, granularity, fmt, results, records, failed)
    return report


def _check_granularity_and_format(granularity: str, fmt: str) -> None:
    """Raise :class:`EmbedError` for an unknown ``granularity`` or ``fmt``."""
    if granularity not in EMBED_GRANULARITIES:
        raise EmbedError(
            f"granularity {granularity!r}", "unknown", f"use one of {EMBED_GRANULARITIES}"
        )
    if fmt not in FORMATS:
        raise EmbedError(f"format {fmt!r}", "unknown", f"use one of {FORMATS}")


def _embed_one(
    emb: AudioEmbedder,
    path: Path,
    name: str,
    out: Path | None,
    fmt: str,
    want_clip: bool,
    want_frames: bool,
    settings_key: str,
    failed: list[tuple[str, str]],
) -> tuple[FileEmbedding, dict] | None:
    """Embed one file and save its npy outputs; None (reason added to ``failed``) if unreadable."""
    try:
        res = emb.embed_file(path, name, frames=want_frames)
    except BadAudioError as e:
        failed.append((str(path), e.reason))
        return None
    except (OSError, MemoryError) as e:
        failed.append((str(path), f"{type(e).__name__}: {e}"))
        return None
    shapes, outputs = {}, []
    if want_clip:
        shapes["clip"] = res.clip.shape
    if want_frames:
        shapes["frames"], shapes["times"] = res.frames.shape, res.times.shape
    if out is not None and fmt == "npy":
        for suffix, key in OUTPUT_KINDS.items():
            if key in shapes:
                _save_npy(out / f"{name}{suffix}", getattr(res, key))
                outputs.append(f"{name}{suffix}")
    record = {
        "source": str(path),
        "name": name,
        "outputs": outputs,
        "shapes": shapes,
        "info": res.info,
    }
    if out is not None and fmt == "npy":  # written last: proves the outputs complete
        atomic_write_json(
            out / f"{name}{DONE_SUFFIX}",
            {**_fingerprint(path), "key": settings_key, "record": record},
        )
    return res, record


def _write_manifest(
    out: Path,
    identity: dict,
    granularity: str,
    fmt: str,
    results: list[FileEmbedding],
    records: list[dict],
    failed: list[tuple[str, str]],
) -> None:
    """Write ``manifest.json``: identity, settings, per-file records and skipped inputs.

    The manifest's key for the granularity is ``"level"``."""
    manifest = {
        **identity,
        "level": granularity,
        "format": fmt,
        "table": "embeddings.npz" if fmt == "npz" and results else None,
        "files": records,
        "skipped": [{"input": s, "reason": r} for s, r in failed],
    }
    atomic_write_json(out / "manifest.json", manifest)


def _settings_key(identity: dict, granularity: str) -> str:
    """Hash of everything that shapes a file's outputs (run, frontend, subspace, window and
    granularity, hashed under the key ``"level"``)."""
    blob = json.dumps({**identity, "level": granularity}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _reuse(out: Path, name: str, path: Path, key: str):
    """``(FileEmbedding, record)`` of a file embedded before with the same settings, or None.

    The record's outputs are read only where they are this file's own outputs in ``out``
    (``<name>.npy``, ``<name>.frames.npy``, ``<name>.times.npy``): a record naming anything
    else (another file, a path out of the folder) is not trusted, and the file is embedded
    again; nothing it names is read.
    """
    done = out / f"{name}{DONE_SUFFIX}"
    try:
        meta = json.loads(done.read_text())
        if meta.get("key") != key or any(meta.get(k) != v for k, v in _fingerprint(path).items()):
            return None  # other settings, or the source changed since
        record = meta["record"]
        arrays = {}
        for out_name in record["outputs"]:
            kind = next((k for sfx, k in OUTPUT_KINDS.items() if out_name == f"{name}{sfx}"), None)
            if kind is None:
                log.warning(
                    "%s: names output %r, not one of this file's own; embedding it again",
                    done,
                    out_name,
                )
                return None
            arrays[kind] = np.load(out / _plain_name(out_name, done))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, partial or foreign: embed again
    clip = arrays.get("clip")
    if clip is None:
        clip = arrays["frames"].mean(0)
    res = FileEmbedding(path, name, clip, arrays.get("frames"), arrays.get("times"), record["info"])
    return res, record


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    atomic_write_bytes(path, buf.getvalue())


def _save_table(path: Path, results: list[FileEmbedding], clip: bool, frames: bool) -> None:
    table = {
        "files": np.array([str(r.path) for r in results]),
        "names": np.array([r.name for r in results]),
        "source_sample_rate": np.array([r.info["source_sample_rate"] for r in results]),
        "source_channels": np.array([r.info["source_channels"] for r in results]),
        "downmixed": np.array([r.info["downmixed"] for r in results]),
        "resampled_to": np.array([r.info["resampled_to"] for r in results]),
    }
    if clip:
        table["clip"] = np.stack([r.clip for r in results]).astype(np.float32)  # (N, D)
    if frames:
        table["frames"] = np.concatenate([r.frames for r in results])  # (ΣT, D)
        table["frame_file"] = np.concatenate(
            [np.full(len(r.frames), i, np.int64) for i, r in enumerate(results)]
        )  # (ΣT,) row of files
        table["frame_time"] = np.concatenate([r.times for r in results])  # (ΣT,) seconds
    buf = io.BytesIO()
    np.savez(buf, **table)
    atomic_write_bytes(path, buf.getvalue())
