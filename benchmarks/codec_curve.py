"""The codec's learning curve: reconstruction and what its latents carry, snapshot by snapshot.

For the untrained codec (step 0: the training's own initialisation) and every snapshot a
codec training left (``<codec dir>/snapshots/step-NNNNNN.pth``, see
:mod:`mvlib.ml.codec.trainer`), this measures

* reconstruction on the codec corpus's held-out sensors: DAC's multi-scale mel distance
  and SI-SDR (:func:`mvlib.ml.codec.quality.reconstruction_quality`);
* what the pooled (time mean + std) pre-quantization latents carry, on the book's dataset:
  the cross-validated linear probes of chapter 2 (:func:`mvlib.evaluate.probe.linear_cv.
  score_stores`), sensor and source, with 95% intervals that resample sensors, on up to
  ``--clips-per-sensor`` clips of each held-out sensor, beside log-mel on the same clips.

The latents go through mvlib's extraction (the DAC frontend with the snapshot as
``features.dac_weights``) into latent stores in the cache. Results are kept per snapshot in
the results file, so a rerun measures only the new snapshots (the training can go on)::

    python benchmarks/codec_curve.py --profile codec --write      # -> results/codec-curve.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import provenance  # benchmarks/provenance.py: a script beside this one
import torch

from mvlib import load_config
from mvlib.core.cache import atomic_write_json
from mvlib.core.errors import EXIT_CODE, MvlibError, format_error
from mvlib.data.dataset import load_dataset
from mvlib.data.splits.make import make_splits
from mvlib.data.splits.partition import labelled_mask
from mvlib.evaluate.probe.linear_cv import score_stores
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.codecs import file_sha256
from mvlib.frontend.config_store import store_dir, store_provenance
from mvlib.frontend.dac_weights import load_dac_weights
from mvlib.frontend.extract import extract
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml.codec.corpus import load_corpus
from mvlib.ml.codec.model import build_codec, save_codec
from mvlib.ml.codec.quality import reconstruction_quality
from mvlib.ml.codec.trainer import codec_dir

RESULTS = Path(__file__).resolve().parent / "results"


def probe_clips(cfg, per_sensor: int):
    """Up to ``per_sensor`` labelled clips of every held-out sensor of the book's dataset."""
    clips = load_dataset(cfg)
    splits = make_splits(clips, cfg.split)
    held = clips.sensor_id.astype(str).isin(splits.sensors["heldout"])
    return clips[held & labelled_mask(clips)].groupby("sensor_id").head(per_sensor)


def latent_store(cfg, clips, weights: Path | None):
    """The store of ``clips`` with the DAC frontend on ``weights`` (None: log-mel)."""
    if weights is None:
        over = {"features.frontend": "logmel", "features.sample_rate": 44100, "features.hop": 512}
    else:
        over = {"features.frontend": "dac", "features.dac_weights": str(weights)}
    cfg = load_config(cfg.profile, over)
    fe = make_frontend(cfg.features)
    out = store_dir(cfg, fe)
    prov = store_provenance(cfg)
    extract(clips, out, cfg.features, provenance=prov, frontend=fe, progress=False)
    return LatentStore(out), fe.identity


def probe_row(name: str, st, clips) -> dict:
    """Sensor and source probe scores ``[score, low, high]`` of one store (chapter 2's)."""
    row = score_stores({name: st}, clips).iloc[0]
    out = {t: [float(row[t]), float(row[f"{t} low"]), float(row[f"{t} high"])] for t in TASKS}
    out.update(
        sensor_chance=float(row["sensor chance"]),
        clips=int(row["clips"]),
        sensors=int(row["sensors"]),
    )
    return out


TASKS = ("sensor", "source")


def untrained_codec(cfg) -> Path:
    """The training's initial weights as a file in the codec's cache folder (step 0)."""
    path = codec_dir(cfg) / "untrained.pth"
    if not path.is_file():
        save_codec(build_codec(cfg.codec), path, {"name": cfg.codec.name, "step": 0, "cpu_s": 0.0})
    return path


def measure(cfg, path: Path, corpus, probed, recon_clips: int) -> dict:
    """One point of the curve: the codec at ``path``."""
    t0 = time.perf_counter()
    model = load_dac_weights(path)
    info = model.metadata.get("mvlib", {})
    quality = reconstruction_quality(model, corpus, recon_clips)
    st, ident = latent_store(cfg, probed, path)
    row = {"step": int(info.get("step", 0)), "cpu_s": float(info.get("cpu_s", 0.0)), **quality}
    row.update(probe_row(path.stem, st, probed), weights_sha256=ident["weights_sha256"])
    row["eval_s"] = round(time.perf_counter() - t0, 1)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default", help="its codec section names the codec")
    ap.add_argument("--clips-per-sensor", type=int, default=16)
    ap.add_argument("--recon-clips", type=int, default=16, help="held-out corpus clips")
    ap.add_argument("--every", type=int, default=1, help="measure every k-th snapshot")
    ap.add_argument("--write", action="store_true", help="write results/codec-curve.json")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.profile)
        out_file = RESULTS / "codec-curve.json"
        old = json.loads(out_file.read_text()) if out_file.is_file() else {}
        done = {r["file_sha256"]: r for r in old.get("curve", []) if "file_sha256" in r}
        corpus = load_corpus(cfg, progress=False)
        probed = probe_clips(cfg, args.clips_per_sensor)
        mel_store, _ = latent_store(cfg, probed, None)
        record = {"logmel": {**probe_row("log-mel", mel_store, probed), "tag": mel_store.path.name}}
        print(json.dumps(record), flush=True)
        snaps = sorted((codec_dir(cfg) / "snapshots").glob("step-*.pth"))[:: args.every]
        curve = []
        for path in [untrained_codec(cfg), *snaps]:
            sha = file_sha256(path)
            row = done.get(sha) or {
                **measure(cfg, path, corpus, probed, args.recon_clips),
                "file_sha256": sha,
            }
            curve.append(row)
            print(json.dumps(row), flush=True)
            if args.write:  # after every point: a long run keeps what it measured
                write(out_file, cfg, args, {**record, "curve": curve})
    except MvlibError as e:
        print(format_error(e), file=sys.stderr)
        return EXIT_CODE
    return 0


def write(path: Path, cfg, args, record: dict) -> None:
    """The curve with its provenance, atomically."""
    atomic_write_json(
        path,
        {
            "what": "codec learning curve (benchmarks/codec_curve.py)",
            "command": "python benchmarks/codec_curve.py " + " ".join(sys.argv[1:]),
            "profile": cfg.profile,
            "codec": cfg.codec.name,
            "codec_dir": codec_dir(cfg).name,
            "recon_clips": args.recon_clips,
            "probe_clips_per_sensor": args.clips_per_sensor,
            "threads": torch.get_num_threads(),
            **record,
            "commit": provenance.commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": provenance.machine(),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
