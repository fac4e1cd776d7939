"""The codec's training corpus: mvlib's generator with the codec's own seed and sensors.

DAC was trained on other data than SONYC; likewise mvlib's codec never hears the book's
dataset. Its corpus is a synthetic set of the profile's world (``synth``: channel spread,
drift, background, sources) with the codec's own seed, sensor count, clip count and clip
length (``codec.corpus_*``) at the codec's sample rate. Every clip is preprocessed as the
frontend preprocesses audio (mono, loudness-normalised to ``codec.loudness_lufs`` with the
peak guard) and the lot is cached as one float32 array::

    <cache>/codec/corpus/<set name>-lufs<L>/audio.npy    float32[N_total]
    <cache>/codec/corpus/<set name>-lufs<L>/clips.json   offsets, lengths, sensors, settings

The corpus's last ``codec.heldout_sensors`` sensors are held out of training: the learning
curve's reconstruction figures are measured on them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mvlib.core.cache import atomic_write_json, cache_dir
from mvlib.core.codec_config import CodecConfig
from mvlib.core.config import Config, FeatureConfig
from mvlib.data.dataset import ensure_dataset
from mvlib.data.synth.plan import set_name
from mvlib.frontend.audio import load_audio
from mvlib.frontend.preprocess import preprocess

__all__ = ["Corpus", "corpus_config", "load_corpus"]

CORPUS_VERSION = 1


@dataclass(frozen=True)
class Corpus:
    """The preprocessed corpus in memory.

    Attributes
    ----------
    audio : np.ndarray[N_total] float32
        Every clip, one after the other (a read-only memory map).
    offsets, lengths, sensors : np.ndarray[C] int64
        Where each clip starts in ``audio``, its samples, its sensor.
    train, heldout : np.ndarray int64
        Indices of the training clips and of the held-out sensors' clips.
    name : str
        The corpus's folder name (set name and loudness).
    """

    audio: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    sensors: np.ndarray
    train: np.ndarray
    heldout: np.ndarray
    name: str

    def clip(self, i: int) -> np.ndarray:
        """Samples of clip ``i`` (float32, a view)."""
        o = int(self.offsets[i])
        return self.audio[o : o + int(self.lengths[i])]


def corpus_config(cfg: Config) -> Config:
    """The config of the corpus's synthetic set: the profile's world, the codec's sensors."""
    c = cfg.codec
    world = replace(
        cfg.synth,
        n_sensors=c.corpus_sensors,
        clips_per_sensor=c.corpus_clips_per_sensor,
        duration_s=c.corpus_duration_s,
        sample_rate=c.sample_rate,
        seed=c.corpus_seed,
    )
    return replace(cfg, data=replace(cfg.data, source="synth", root=None), synth=world)


def load_corpus(cfg: Config, progress: bool = True) -> Corpus:
    """The codec's corpus, generated and preprocessed first where it is not cached.

    Parameters
    ----------
    cfg : Config
        The resolved config: ``codec`` sizes the corpus, ``synth`` gives its world.
    progress : bool
        Show progress bars (generation, preprocessing).
    """
    ccfg = corpus_config(cfg)
    name = f"{set_name(ccfg.synth)}-lufs{cfg.codec.loudness_lufs:g}"
    folder = cache_dir("codec", "corpus", name)
    index = folder / "clips.json"
    if not index.is_file():
        root = ensure_dataset(ccfg, progress=progress)
        _write_corpus(root, folder, cfg.codec, progress)
    meta = json.loads(index.read_text())
    assert meta["version"] == CORPUS_VERSION, f"{index}: corpus version {meta['version']}"
    audio = np.load(folder / "audio.npy", mmap_mode="r")
    sensors = np.asarray(meta["sensors"], dtype=np.int64)
    held = np.unique(sensors)[-cfg.codec.heldout_sensors :] if cfg.codec.heldout_sensors else []
    is_held = np.isin(sensors, held)
    return Corpus(
        audio=audio,
        offsets=np.asarray(meta["offsets"], dtype=np.int64),
        lengths=np.asarray(meta["lengths"], dtype=np.int64),
        sensors=sensors,
        train=np.flatnonzero(~is_held),
        heldout=np.flatnonzero(is_held),
        name=name,
    )


def _write_corpus(root: Path, folder: Path, c: CodecConfig, progress: bool) -> None:
    """Preprocess every wav of ``root/audio`` into ``audio.npy`` + ``clips.json`` (atomic)."""
    feats = FeatureConfig(sample_rate=c.sample_rate, loudness_lufs=c.loudness_lufs, hop=1)
    files = sorted((root / "audio").glob("*.wav"))
    assert files, f"{root}: no wav files"
    parts, sensors, names = [], [], []
    for f in tqdm(files, desc="codec corpus", unit="clip", disable=not progress):
        wave, sr = load_audio(f)
        parts.append(preprocess(wave, sr, feats, f))
        sensors.append(int(f.name.split("_")[0]))
        names.append(f.name)
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tmp = folder / f".audio.{os.getpid()}.npy"
    np.save(tmp, np.concatenate(parts).astype(np.float32))
    tmp.replace(folder / "audio.npy")
    atomic_write_json(
        folder / "clips.json",
        {
            "version": CORPUS_VERSION,
            "dataset": str(root),
            "sample_rate": c.sample_rate,
            "loudness_lufs": c.loudness_lufs,
            "files": names,
            "offsets": offsets.tolist(),
            "lengths": lengths.tolist(),
            "sensors": sensors,
        },
    )
