"""A trained run's frozen encoder applied to anyone's audio files (``mvlib embed``).

The run's saved config and provenance name the frontend (log-mel, or DAC and its weights):
the same frontend is rebuilt here and its identity (weights hash, rate, hop, loudness)
checked against the run's, so embeddings are never made from other features than those the
encoder was trained on. A run whose frontend weights are not on this machine is refused.

Every file goes through the training clips' path, with what was done recorded per file:

1. read (soundfile: any rate, any channel count) and downmix to mono (channel mean);
2. resample to the frontend's rate (the pipeline's torchaudio resampler), once per file;
3. cut into windows of the training clips' length (``window_s``; default: the run's dataset
   clip length, 10 s for SONYC-UST-V2); a tail shorter than the 0.4 s loudness block joins the
   window before it;
4. per window, normalise loudness to the run's target (BS.1770) and right-pad to the hop, as
   for training clips; a window too quiet to measure is left out (listed in the manifest);
5. frontend -> frames (``Tensor[1 x T x D]``) -> encoder -> ``z_p``, ``z_s`` per frame.

A clip-level embedding is the mean over all frames of the file (as for probes); frame-level
embeddings come with their times in seconds (frame centres, see :func:`frame_times`).
A file that cannot be read (corrupt, empty, silent, too short, > 2 channels…) is skipped with
its reason; the batch never stops for one file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mvlib.core.cache import atomic_write_bytes, atomic_write_json
from mvlib.core.errors import MvlibError
from mvlib.frontend.features import (
    LOUDNESS_BLOCK_S,
    BadAudioError,
    Frontend,
    WeightsError,
    load_audio,
    preprocess_with_info,
    resample,
    resolve_device,
)

#: file name suffixes taken from folders (soundfile's formats; an explicit file is always tried)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".au", ".mp3", ".opus", ".w64")
#: SONYC-UST-V2 clips are 10 s long
SONYC_CLIP_S = 10.0
SUBSPACES = ("z_p", "z_s", "both")
LEVELS = ("clip", "frame", "both")
FORMATS = ("npy", "npz")
MARKER = ".mvlib-embed.json"
#: per-file completion record of the npy format (lets an interrupted command resume)
DONE_SUFFIX = ".done.json"


class EmbedError(MvlibError):
    """A run, an input list or an output folder that ``mvlib embed`` cannot use."""


# --------------------------------------------------------------------------- inputs


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
    """Folder-safe, unique output stems: ``a/b.wav`` -> ``a__b``; repeats get ``-2``, ``-3``."""
    out, used = [], set()
    for name in names:
        stem = name.rsplit(".", 1)[0] if "." in Path(name).name else name
        stem = stem.replace("/", "__").replace("\\", "__") or "audio"
        cand, k = stem, 1
        while cand in used:
            k += 1
            cand = f"{stem}-{k}"
        used.add(cand)
        out.append(cand)
    return out


# --------------------------------------------------------------------------- the model


def frame_times(frontend: Frontend, n: int, offset_samples: int = 0) -> np.ndarray:
    """Centre time (s) of ``n`` frames starting at ``offset_samples`` (frontend's rate).

    Log-mel frames are centred on sample ``t * hop`` (``center=True``); a DAC latent frame
    covers samples ``[t * hop, (t + 1) * hop)``, centred half a hop later.
    """
    shift = 0.0 if frontend.name == "logmel" else 0.5
    t = np.arange(n, dtype=np.float64)
    return (offset_samples + (t + shift) * frontend.hop) / frontend.sample_rate


def _run_frontend(cfg, run_identity: dict, device: str, where="run") -> Frontend:
    """The run's frontend rebuilt here, refusing other weights than the run's."""
    from mvlib.frontend.features import make_frontend

    fc = cfg.features
    weights = str(run_identity.get("weights", ""))
    random_run = weights.startswith("random-init")
    overrides = {"features.device": device}
    if fc.frontend == "dac":
        # never fall back to random weights for a run trained on real ones (and vice versa)
        overrides["features.allow_random_dac"] = random_run
    cfg = cfg.replace(overrides)
    try:
        frontend = make_frontend(cfg.features)
    except WeightsError as e:
        from mvlib.frontend import features

        sha = run_identity.get("weights_sha256", "?")
        raise EmbedError(
            where,
            f"trained on DAC weights {weights or '?'} (encoder sha256 {sha}), which are not on "
            "this machine",
            f"put that weights file at {features.DAC_CACHE_FILE} or set "
            f"${features.WEIGHTS_ENV}=<file>",
        ) from e
    mine = frontend.identity
    diff = sorted(
        k
        for k in set(mine) & set(run_identity)
        if k != "device" and str(mine[k]) != str(run_identity[k])
    )
    if diff:
        detail = ", ".join(f"{k}: run {run_identity[k]!r}, here {mine[k]!r}" for k in diff[:3])
        raise EmbedError(
            where,
            f"frontend {frontend.tag} here is not the one the run was trained on ({detail})",
            "use the weights file the run was trained with (its provenance.json names them)",
        )
    return frontend


def _default_window_s(cfg) -> float:
    return float(cfg.synth.duration_s) if cfg.data.source == "synth" else SONYC_CLIP_S


@dataclass
class FileEmbedding:
    """One file's embeddings and what was done to it."""

    path: Path
    name: str  #: output stem
    clip: np.ndarray  #: ndarray[D] time-mean of the chosen subspace(s)
    frames: np.ndarray | None  #: ndarray[T x D] frame-level, when asked
    times: np.ndarray | None  #: ndarray[T] frame centres (s)
    info: dict = field(default_factory=dict)


class AudioEmbedder:
    """A run's encoder and frontend, ready to embed audio arrays or files.

    Parameters
    ----------
    run_dir : a folder made by ``mvlib train`` (or a path to one of its checkpoints)
    subspace : "z_p" | "z_s" | "both" (``z_p ⊕ z_s``); models without a split (contrastive,
        supervised, frontend only) have one embedding, used whatever is asked
    which : checkpoint name, "best" or "last"
    window_s : window length in seconds (default: the run's training clip length)
    device : "auto" | "cpu" | "cuda" | "cuda:N"
    """

    def __init__(
        self,
        run_dir,
        subspace: str = "both",
        which: str = "best",
        window_s: float | None = None,
        device: str = "cpu",
    ):
        from mvlib.ml.train import load_model

        if subspace not in SUBSPACES:
            raise EmbedError(f"subspace {subspace!r}", "unknown", f"use one of {SUBSPACES}")
        run_dir = Path(run_dir)
        if run_dir.is_file() and run_dir.suffix == ".pt":  # a checkpoint: its run folder
            which, run_dir = run_dir.stem, run_dir.parent.parent
        ckpt_path = run_dir / "checkpoints" / f"{which}.pt"
        if not ckpt_path.is_file():
            raise EmbedError(
                run_dir,
                f"not a trained run (no checkpoints/{which}.pt)",
                "pass a folder made by `mvlib train`",
            )
        self.device = resolve_device(device)
        self.model, self.cfg, ckpt = load_model(run_dir, which, device=self.device)
        prov = ckpt.get("provenance") or {}
        identity = dict(prov.get("feature_identity") or {"frontend": self.cfg.features.frontend})
        self.frontend = _run_frontend(self.cfg, identity, str(self.device), run_dir)
        if self.frontend.dim != ckpt["dim"]:
            raise EmbedError(
                run_dir,
                f"the model takes {ckpt['dim']}-dim frames, the frontend gives {self.frontend.dim}",
                "check the run's features settings",
            )
        self.run_dir, self.which, self.subspace = run_dir, which, subspace
        self.window_s = float(window_s) if window_s else _default_window_s(self.cfg)
        if self.window_s < LOUDNESS_BLOCK_S:
            raise EmbedError(
                f"window_s={self.window_s}", f"shorter than the {LOUDNESS_BLOCK_S} s loudness block"
            )
        hop, rate = self.frontend.hop, self.frontend.sample_rate
        self.window = -(-int(round(self.window_s * rate)) // hop) * hop  # samples, hop multiple
        self.identity = {
            "run": str(run_dir.resolve()),
            "checkpoint": which,
            "method": self.cfg.model.method,
            "profile": self.cfg.profile,
            "data_source": prov.get("data_source"),
            "git_commit": prov.get("git_commit"),
            "frontend": self.frontend.identity,
            "subspace": subspace,
            "window_s": self.window / rate,
        }

    # ----------------------------------------------------------------- arrays

    def _pick(self, emb: dict[str, np.ndarray]) -> np.ndarray:
        if "z_p" in emb and "z_s" in emb:
            if self.subspace == "both":
                pair = [emb["z_p"], emb["z_s"]]
                if isinstance(pair[0], torch.Tensor):
                    return torch.cat(pair, dim=-1)
                return np.concatenate(pair, axis=-1)
            return emb[self.subspace]
        (only,) = emb.values()  # contrastive "z", supervised "z", frontend-only "x"
        return only

    @property
    def dim(self) -> int:
        """Size D of the embeddings returned."""
        x = np.zeros((1, 4, self.frontend.dim), np.float32)
        with torch.inference_mode():
            emb = self.model.embed(torch.from_numpy(x).to(self.device))
        return int(self._pick({k: v.cpu().numpy() for k, v in emb.items()}).shape[-1])

    def windows(self, mono: np.ndarray) -> list[tuple[int, int]]:
        """``(start, stop)`` sample ranges of the windows of a mono signal at the frontend rate."""
        n, w = len(mono), self.window
        bounds = [(s, min(s + w, n)) for s in range(0, max(n, 1), w)]
        short = LOUDNESS_BLOCK_S * self.frontend.sample_rate
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < short:
            bounds[-2:] = [(bounds[-2][0], n)]  # a tail too short to normalise joins its window
        return bounds

    def embed_wave(self, wave: np.ndarray, sr: int, path="<array>") -> tuple[dict, dict]:
        """Frame-level embeddings of one recording.

        Parameters
        ----------
        wave : ndarray[C x N] or ndarray[N], samples at ``sr``

        Returns
        -------
        out : {"frames": ndarray[T x D], "times": ndarray[T] (s), "clip": ndarray[D]}
        info : what was done (source rate/channels, resampling, downmix, windows, loudness)

        Raises
        ------
        BadAudioError
            Shorter than the loudness block, or every window too quiet to normalise.
        """
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            wave = wave[None]  # (1, N)
        assert wave.ndim == 2, f"{path}: expected wave[C x N], got {wave.shape}"
        rate = self.frontend.sample_rate
        mono = wave.mean(axis=0, dtype=np.float64)  # (N,) downmix
        if sr != rate:
            mono = resample(mono, sr, rate)  # the pipeline's resampler (as in training)
        if len(mono) < LOUDNESS_BLOCK_S * rate:
            raise BadAudioError(
                path, f"too short: {len(mono) / rate:.3f} s; needs >= {LOUDNESS_BLOCK_S} s"
            )
        frames, times, skipped, gains = [], [], [], []
        for start, stop in self.windows(mono):
            try:
                x, pinfo = preprocess_with_info(mono[start:stop], rate, self.cfg.features, path)
            except BadAudioError as e:
                skipped.append({"start_s": start / rate, "stop_s": stop / rate, "reason": e.reason})
                continue
            xt = torch.from_numpy(x).to(self.device)[None, None]  # (1, 1, N')
            feats = self.frontend(xt)  # (1, T, D)
            with torch.inference_mode():
                emb = self.model.embed(feats.to(self.device))
            z = self._pick({k: v[0].float().cpu().numpy() for k, v in emb.items()})  # (T, D')
            frames.append(z)
            times.append(frame_times(self.frontend, len(z), start))
            gains.append(pinfo["gain_db"])
        if not frames:
            raise BadAudioError(
                path, f"every window is too quiet to normalise ({skipped[0]['reason']})"
            )
        f = np.concatenate(frames).astype(np.float32)  # (T, D)
        t = np.concatenate(times)  # (T,)
        info = {
            "source_sample_rate": int(sr),
            "source_channels": int(wave.shape[0]),
            "source_seconds": round(wave.shape[1] / sr, 4),
            "resampled_to": rate,
            "resampled": sr != rate,
            "downmixed": wave.shape[0] > 1,
            "windows": len(frames),
            "windows_skipped": skipped,
            "gain_db": [round(float(g), 3) for g in gains],
            "frames": int(f.shape[0]),
        }
        return {"frames": f, "times": t, "clip": f.mean(0)}, info

    def embed_file(self, path, name: str | None = None, frames: bool = True) -> FileEmbedding:
        """Read and embed one file (raises BadAudioError when it cannot be used)."""
        path = Path(path)
        wave, sr = load_audio(path)  # (C, N)
        out, info = self.embed_wave(wave, sr, path)
        return FileEmbedding(
            path,
            name or path.stem,
            out["clip"],
            out["frames"] if frames else None,
            out["times"] if frames else None,
            info,
        )


# --------------------------------------------------------------------------- batches


@dataclass
class EmbedReport:
    """What :func:`embed_files` did: one entry per embedded file, and every skipped input."""

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
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise EmbedError(
            out,
            "folder is not empty and was not made by `mvlib embed`",
            "choose a new or empty folder (mvlib writes only into folders it made)",
        )
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():  # marked first: a killed run can be rerun into it
        atomic_write_json(out / MARKER, {"made_by": "mvlib embed"})
    return out


def embed_files(
    inputs,
    run_dir,
    out=None,
    subspace: str = "both",
    level: str = "clip",
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
    level : "clip" (time mean per file), "frame" (per frame, with times) or "both"
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
    from tqdm import tqdm  # text bars: widget bars would need ipywidgets and a live kernel

    if level not in LEVELS:
        raise EmbedError(f"level {level!r}", "unknown", f"use one of {LEVELS}")
    if fmt not in FORMATS:
        raise EmbedError(f"format {fmt!r}", "unknown", f"use one of {FORMATS}")
    t0 = time.perf_counter()
    emb = embedder or AudioEmbedder(run_dir, subspace, which, window_s, device)
    files, failed = expand_inputs(inputs)
    if not files and not failed:
        raise EmbedError("inputs", "none given", "name files, folders or glob patterns")
    out = _prepare_out(Path(out)) if out is not None else None
    names = output_names([n for _, n in files])
    want_clip, want_frames = level in ("clip", "both"), level in ("frame", "both")
    results: list[FileEmbedding] = []
    records: list[dict] = []
    settings_key = _settings_key(emb.identity, level)
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
        try:
            res = emb.embed_file(path, name, frames=want_frames)
        except BadAudioError as e:
            failed.append((str(path), e.reason))
            continue
        except (OSError, MemoryError) as e:
            failed.append((str(path), f"{type(e).__name__}: {e}"))
            continue
        shapes, outputs = {}, []
        if want_clip:
            shapes["clip"] = res.clip.shape
        if want_frames:
            shapes["frames"], shapes["times"] = res.frames.shape, res.times.shape
        if out is not None and fmt == "npy":
            for key, suffix in (
                ("clip", ".npy"),
                ("frames", ".frames.npy"),
                ("times", ".times.npy"),
            ):
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
        results.append(res)
        records.append(record)
    if out is not None and fmt == "npz" and results:
        _save_table(out / "embeddings.npz", results, want_clip, want_frames)
    report = EmbedReport(
        out, emb.identity, records, failed, time.perf_counter() - t0, results, reused
    )
    if out is not None:
        manifest = {
            **emb.identity,
            "level": level,
            "format": fmt,
            "table": "embeddings.npz" if fmt == "npz" and results else None,
            "files": records,
            "skipped": [{"input": s, "reason": r} for s, r in failed],
        }
        atomic_write_json(out / "manifest.json", manifest)
    return report


def _settings_key(identity: dict, level: str) -> str:
    """Hash of everything that shapes a file's outputs (run, frontend, subspace, window, level)."""
    blob = json.dumps({**identity, "level": level}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _reuse(out: Path, name: str, path: Path, key: str):
    """``(FileEmbedding, record)`` of a file embedded before with the same settings, or None."""
    done = out / f"{name}{DONE_SUFFIX}"
    try:
        meta = json.loads(done.read_text())
        if meta.get("key") != key or any(meta.get(k) != v for k, v in _fingerprint(path).items()):
            return None  # other settings, or the source changed since
        record = meta["record"]
        arrays = {}
        for out_name in record["outputs"]:
            kind = out_name[len(name) :]
            arrays[{".npy": "clip", ".frames.npy": "frames", ".times.npy": "times"}[kind]] = (
                np.load(out / out_name)
            )
    except (OSError, ValueError, KeyError):
        return None  # missing, partial or foreign: embed again
    clip = arrays.get("clip")
    if clip is None:
        clip = arrays["frames"].mean(0)
    res = FileEmbedding(path, name, clip, arrays.get("frames"), arrays.get("times"), record["info"])
    return res, record


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    atomic_write_bytes(path, buf.getvalue())


def _save_table(path: Path, results: list[FileEmbedding], clip: bool, frames: bool) -> None:
    import io

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
