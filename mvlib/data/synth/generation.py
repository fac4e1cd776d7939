"""Generating a synthetic set: the driver, the process pool, and the wav files.

:func:`generate` writes (or finishes writing) a set into a folder it may write
(:mod:`.folder`) while holding the set's lock (:mod:`.lock`): audio sensor by sensor in
worker processes, then ``annotations.csv``, ``truth.json`` and, last, the marker with
``complete: true``. Output folder::

    <out>/annotations.csv   SONYC-UST-V2 columns (taxonomy.annotation_columns())
    <out>/audio/<sensor>_<clip>.wav   16-bit PCM mono at cfg.sample_rate
    <out>/truth.json        ground truth: sensors' channels, clips' sources and drift
    <out>/synth.json        mvlib's generation marker (settings, completion, manifest)
"""

from __future__ import annotations

import io
import multiprocessing
import os
import struct
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from mvlib.core.cache import atomic_write_bytes, atomic_write_json, atomic_write_text, cache_dir
from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.synth.annotators import clip_annotations
from mvlib.data.synth.channel import synthesize_clip
from mvlib.data.synth.folder import (
    GENERATION_MARKER,
    DatasetFolderError,
    folder_manifest,
    folder_state,
    marker,
)
from mvlib.data.synth.lock import generation_lock
from mvlib.data.synth.plan import (
    AUDIO,
    SYNTH_VERSION,
    apply_drift,
    audio_filename,
    clip_plan,
    sensor_dataset_splits,
    sensor_meta,
    sensor_params,
    set_name,
    stream_rng,
)
from mvlib.data.synth.truth import truth_clip


def _check(cfg: SynthConfig) -> None:
    checks = [
        ("n_sensors", cfg.n_sensors >= 1, ">= 1"),
        ("clips_per_sensor", cfg.clips_per_sensor >= 1, ">= 1"),
        ("duration_s", cfg.duration_s > 0, "> 0"),
        ("sample_rate", cfg.sample_rate >= 8000, ">= 8000 Hz"),
        ("max_sources", 0 <= cfg.max_sources <= 8, "in 0..8"),
        ("n_volunteers", cfg.n_volunteers >= 1, ">= 1"),
        ("volunteer_miss", 0 <= cfg.volunteer_miss <= 1, "in [0, 1]"),
        ("volunteer_false_alarm", 0 <= cfg.volunteer_false_alarm <= 1, "in [0, 1]"),
        ("channel_spread", cfg.channel_spread >= 0, ">= 0"),
        ("channel_drift", cfg.channel_drift >= 0, ">= 0"),
        ("prior_concentration", cfg.prior_concentration > 0, "> 0"),
    ]
    for name, ok, want in checks:
        if not ok:
            raise ValueError(f"synth.{name} = {getattr(cfg, name)!r}: expected {want}")


def _wav_ok(path: Path, n: int, sr: int) -> bool:
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return (
        info.frames == n
        and info.samplerate == sr
        and info.channels == 1
        and info.subtype == "PCM_16"
    )


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM mono WAV file of ``y`` (floats in [-1, 1)).

    The bytes libsndfile (``soundfile.write(..., subtype="PCM_16")``) writes, formed in numpy:
    its 44-byte header, and its conversion ``round(y * 2**31) >> 16`` (a tested identity;
    soundfile's write through a Python file object costs ~7x more). Signals reaching +-1,
    which libsndfile would clip, go through soundfile itself.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or not np.all(np.abs(y) < 1.0):
        buf = io.BytesIO()
        sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    pcm = np.right_shift(np.rint(y * 2147483648.0).astype(np.int64), 16).astype("<i2").tobytes()
    riff = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)  # PCM, mono, 16 bit
    return b"".join([riff, fmt, b"data", struct.pack("<I", len(pcm)), pcm])


def _render_sensor(cfg: SynthConfig, s: int, audio_dir: str) -> int:
    """Write every missing or invalid wav of sensor ``s``; returns how many were written."""
    sr, n = int(cfg.sample_rate), int(round(cfg.duration_s * cfg.sample_rate))
    params = sensor_params(cfg, s)
    written = 0
    for c in range(cfg.clips_per_sensor):
        path = Path(audio_dir) / audio_filename(s, c)
        if _wav_ok(path, n, sr):
            continue
        plan = clip_plan(cfg, s, c, params)
        y = synthesize_clip(
            cfg, apply_drift(params, plan["drift"]), plan["sources"], stream_rng(cfg, AUDIO, s, c)
        )
        # all-or-nothing by rename; flushed to disk once by generate() before it marks the
        # set complete (one fsync per wav cost 1-5 ms of a ~37 ms clip)
        atomic_write_bytes(path, _wav_bytes(y, sr), durable=False)
        written += 1
    return written


def _render_all(cfg: SynthConfig, audio_dir: Path, workers: int, progress: bool) -> None:
    """Render audio sensor by sensor, in ``workers`` processes (spawned: safe in kernels)."""
    bar = tqdm(total=cfg.n_sensors, desc="synth audio", unit="sensor", disable=not progress)
    if workers <= 1:
        for s in range(cfg.n_sensors):
            _render_sensor(cfg, s, str(audio_dir))
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = [
                pool.submit(_render_sensor, cfg, s, str(audio_dir)) for s in range(cfg.n_sensors)
            ]
            for f in futs:
                f.result()
                bar.update()
    bar.close()


def generate(
    cfg: SynthConfig,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int | None = None,
    repair: bool = False,
) -> Path:
    """Write (or finish writing) the synthetic SONYC-format dataset.

    Idempotent and resumable: a complete dataset of the same config returns at
    once; otherwise valid wavs already present are kept and the rest written
    (each atomically), then ``annotations.csv``, ``truth.json`` and, last,
    ``synth.json`` with ``complete: true`` and a manifest of the files.

    A user's files are read-only: generation writes only into a new or empty folder,
    or one holding mvlib's marker (``synth.json``) of the same settings whose
    generation was interrupted. A folder of other files, of another config, or a
    finished set changed since (a sensor removed, say) raises
    :class:`DatasetFolderError`; ``repair=True`` rewrites an edited set of the same
    settings back to what the generator makes.

    Parameters
    ----------
    cfg : SynthConfig
        What to generate.
    out_dir : path, optional
        Target folder; default ``<cache>/datasets/<set_name(cfg)>``.
    progress : bool
        Show a tqdm bar over sensors.
    workers : int, optional
        Processes rendering audio (default: the CPU count, at most 8; 1 for sets under two
        minutes of audio, where starting processes costs more). Every clip has its
        own seeded generator, so the files are identical for any number of workers.
    repair : bool
        Rewrite a finished set of these settings that was changed since (never a folder
        of other files or settings).

    Returns
    -------
    Path
        The dataset folder.
    """
    _check(cfg)
    out = Path(out_dir) if out_dir is not None else cache_dir("datasets", set_name(cfg))
    if folder_state(out, cfg)[0] == "complete":  # finished: nothing to write, no lock needed
        return out
    with generation_lock(out):  # one writer; a set another process finished is used as it is
        return _write_set(cfg, out, progress, workers, repair)


def _write_set(
    cfg: SynthConfig, out: Path, progress: bool, workers: int | None, repair: bool
) -> Path:
    """:func:`generate`'s work, under the set's lock: check the folder, write what is missing."""
    state, detail = folder_state(out, cfg)
    if state == "complete":
        return out
    if state == "foreign":
        what = "holds files that mvlib did not write"
        if (out / "annotations.csv").exists():
            what = "holds a dataset that mvlib did not generate (annotations.csv, no synth.json)"
        raise DatasetFolderError(
            out,
            f"{what}; mvlib never writes into such a folder",
            "generate into a new or empty folder (mvlib synth --out NEW_DIR), or use this "
            "dataset as it is with --set data.root=" + str(out),
        )
    if state == "other_config":
        raise DatasetFolderError(
            out,
            f"holds a synthetic set of other settings ({detail})",
            "generate into another folder, or delete this one to regenerate it",
        )
    if state == "edited" and not repair:
        raise DatasetFolderError(
            out,
            f"this synthetic set was changed since mvlib generated it ({detail}); "
            "mvlib does not revert your edits",
            "use it as it is (--set data.root=" + str(out) + "), generate into a new folder, "
            "or rewrite it with `mvlib synth --repair`",
        )
    # the marker first: from then on the folder is mvlib's set (never "foreign")
    atomic_write_json(out / GENERATION_MARKER, {**marker(cfg), "complete": False})
    (out / "audio").mkdir(exist_ok=True)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
        if cfg.n_sensors * cfg.clips_per_sensor * cfg.duration_s < 120:
            workers = 1  # a tiny set renders faster than worker processes start
    _render_all(cfg, out / "audio", min(workers, cfg.n_sensors), progress)
    os.sync()  # the wavs were written without fsync each: on disk before marked complete
    dataset_splits = sensor_dataset_splits(cfg)
    rows, sensors, clips = [], [], []
    for s in range(cfg.n_sensors):
        params, smeta = sensor_params(cfg, s), sensor_meta(cfg, s)
        sensors.append({"sensor_id": s, "split": dataset_splits[s], **smeta, **params})
        for c in range(cfg.clips_per_sensor):
            plan = clip_plan(cfg, s, c, params)
            path = out / "audio" / audio_filename(s, c)
            meta = {
                "split": dataset_splits[s],
                "sensor_id": s,
                "audio_filename": path.name,
                **smeta,
                **plan["meta"],
            }
            rows += clip_annotations(cfg, s, c, dataset_splits[s], meta, plan["sources"])
            clips.append(truth_clip(s, c, dataset_splits[s], plan))
    table = pd.DataFrame(rows, columns=list(taxonomy.annotation_columns()))
    assert not table.isna().any().any(), "annotation table has holes"
    text = table.to_csv(index=False)
    atomic_write_text(out / "annotations.csv", text)
    atomic_write_json(
        out / "truth.json", {"synth_version": SYNTH_VERSION, "sensors": sensors, "clips": clips}
    )
    _drop_stray_temp_files(out)
    manifest = folder_manifest(out, annotations_text=text)
    atomic_write_json(
        out / GENERATION_MARKER, {**marker(cfg), "complete": True, "manifest": manifest}
    )
    return out


def _drop_stray_temp_files(out: Path) -> None:
    """Remove temp files of an interrupted atomic write (ours: hidden ``.*.tmp`` names) from
    the set's folder and its ``audio/``: a process killed midway leaves them."""
    for folder in (out, out / "audio"):
        for p in folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)
