"""Where a measurement was made: the machine and the commit, for every results file.

Each benchmark writes them beside its figures (``benchmarks/results/*.json``), and
``benchmarks/readme.py`` refuses a results file without them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine(**extra) -> dict:
    """CPU model, cores, memory, load and Python (``extra`` fields added, e.g. the GPU)."""
    cpu, mem = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
        with open("/proc/meminfo") as f:
            mem = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemTotal:")), 0)
    except OSError:  # not Linux: the model stays unknown
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": None,
        "ram_bytes": mem,
        "load_avg_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        **extra,
    }


def commit() -> str:
    """The checkout's commit, ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git: not a checkout
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")
