"""Ship a codec snapshot with mvlib: copy it into the package with its provenance file.

Copies ``<codec dir>/snapshots/step-NNNNNN.pth`` (byte for byte) to
``mvlib/frontend/codecs/<name>.pth`` and writes ``<name>.json``: the commit, the command that
reproduces it, the corpus, the step, the CPU time, the machine, the file's sha256 and its
quality figures from ``benchmarks/results/codec-curve.json`` (beside the untrained codec's and
log-mel's)::

    python scripts/ship_codec.py --profile codec --step 3000
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import provenance  # noqa: E402  benchmarks/provenance.py

from mvlib import load_config  # noqa: E402
from mvlib.core.cache import atomic_write_json  # noqa: E402
from mvlib.frontend.codecs import file_sha256  # noqa: E402
from mvlib.frontend.dac_weights import read_weights  # noqa: E402
from mvlib.ml.codec.trainer import codec_dir  # noqa: E402

CURVE = ROOT / "benchmarks" / "results" / "codec-curve.json"
DEST = ROOT / "mvlib" / "frontend" / "codecs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default", help="the profile whose codec is shipped")
    ap.add_argument("--step", type=int, required=True, help="the snapshot's step")
    args = ap.parse_args(argv)
    cfg = load_config(args.profile, {"features.frontend": "logmel"})
    src = codec_dir(cfg) / "snapshots" / f"step-{args.step:06d}.pth"
    _, meta = read_weights(src)
    sha = file_sha256(src)
    curve = json.loads(CURVE.read_text())
    rows = {r["file_sha256"]: r for r in curve["curve"]}
    row, untrained = rows[sha], min(curve["curve"], key=lambda r: r["step"])
    name = cfg.codec.name
    dest = DEST / f"{name}.pth"
    shutil.copyfile(src, dest)
    assert file_sha256(dest) == sha
    info = meta["mvlib"]
    atomic_write_json(
        DEST / f"{name}.json",
        {
            "name": name,
            "file": dest.name,
            "sha256": sha,
            "bytes": dest.stat().st_size,
            "step": info["step"],
            "cpu_s": info["cpu_s"],
            "corpus": info["corpus"],
            "architecture": meta["kwargs"],
            "command": f"mvlib codec train --profile codec --steps {info['step']}",
            "trained_commit": curve.get("commit"),
            "quality": {
                "n_clips": row["n_clips"],
                "mel_distance": row["mel_distance"],
                "si_sdr_db": row["si_sdr_db"],
                "untrained_mel_distance": untrained["mel_distance"],
                "untrained_si_sdr_db": untrained["si_sdr_db"],
                "probe_clips": row["clips"],
                "probe_sensors": row["sensors"],
                "sensor": row["sensor"],
                "source": row["source"],
                "untrained_sensor": untrained["sensor"],
                "untrained_source": untrained["source"],
                "logmel_sensor": curve["logmel"]["sensor"],
                "logmel_source": curve["logmel"]["source"],
            },
            "curve": "benchmarks/results/codec-curve.json",
            "commit": provenance.commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": provenance.machine(),
        },
    )
    print(dest, sha)
    return 0


if __name__ == "__main__":
    sys.exit(main())
