"""How long the book takes to build from an empty cache: seconds per chapter and in total.

Builds with a fresh, temporary ``MVLIB_CACHE`` and torch.compile kernel cache (nothing
cached: the dataset, latent stores, every run of the sweep and compiled kernels are made), so the figure is what a new user waits on a fresh
clone once the environment is installed::

    python benchmarks/book.py                      # jupyter-book build --all book/ (make book)
    python benchmarks/book.py --profile ci         # a small profile, to check the script
    python benchmarks/book.py --papermill          # each chapter through papermill, in order

The jupyter-book mode parses MyST-NB's ``<chapter>.ipynb: Executed notebook in N seconds``
log line of each chapter and also reports the whole build's
wall time, which adds the HTML writing. The papermill mode times each chapter's execution
in toc order (no HTML). Output: one line per chapter, the total, and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: MyST-NB: "<path>/01_data_pairing.ipynb: Executed notebook in 54.23 seconds [mystnb]"
EXECUTED = re.compile(r"([^\s/]+)\.ipynb: Executed notebook in ([0-9.]+) seconds")


def chapters() -> list[str]:
    """Notebook chapters in toc order (``01_data_pairing`` ...)."""
    toc = (BOOK / "_toc.yml").read_text()
    names = re.findall(r"file:\s*(\S+)", toc)
    return [n for n in names if (BOOK / f"{n}.ipynb").exists()]


def parse_log(text: str) -> dict[str, float]:
    """``{chapter: seconds}`` from a jupyter-book build log (MyST-NB execution lines)."""
    out = {}
    for line in ANSI.sub("", text).splitlines():
        m = EXECUTED.search(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def build_jupyter_book(env: dict, log_path: Path, keep: bool = False) -> tuple[dict, float]:
    out_dir = Path(tempfile.mkdtemp(prefix="mvlib-book-html-"))
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        "--all",
        "--path-output",
        str(out_dir),
        str(BOOK),
    ]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    text = log_path.read_text()
    if keep:
        print(f"HTML kept in {out_dir}", file=sys.stderr)
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
    if proc.returncode != 0:
        sys.exit(f"jupyter-book failed (exit {proc.returncode}); log: {log_path}")
    return parse_log(text), wall


def build_papermill(env: dict, names: list[str], work: Path) -> tuple[dict[str, float], float]:
    out = {}
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "papermill",
            "--cwd",
            str(BOOK),
            str(BOOK / f"{name}.ipynb"),
            str(work / f"{name}.ipynb"),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        out[name] = time.perf_counter() - t0
        print(f"{name:24s} {out[name]:7.1f} s", file=sys.stderr, flush=True)
    return out, time.perf_counter() - t_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--profile", default=None, help="MVLIB_PROFILE for the build (default: default)"
    )
    ap.add_argument("--papermill", action="store_true", help="time chapters with papermill")
    ap.add_argument("--chapters", help="papermill mode: comma-separated chapters (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache (and HTML)")
    args = ap.parse_args(argv)

    cache = Path(tempfile.mkdtemp(prefix="mvlib-book-cache-"))
    env = {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    # torch.compile's kernel cache too starts empty (the DAC proof compiles Snake)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "torchinductor")
    if args.profile:
        env["MVLIB_PROFILE"] = args.profile
    names = chapters()
    try:
        if args.papermill:
            if args.chapters:
                names = [n for n in names if n in args.chapters.split(",")]
            per, wall = build_papermill(env, names, Path(tempfile.mkdtemp(prefix="mvlib-nb-")))
        else:
            per, wall = build_jupyter_book(env, cache / "build.log", keep=args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
    mode = "papermill" if args.papermill else "jupyter-book build --all"
    print(
        f"book build from an empty cache ({mode}, profile {args.profile or 'default'}, "
        f"{os.cpu_count()} CPUs)"
    )
    for name in names:
        print(f"  {name:24s} {per.get(name, float('nan')):7.1f} s")
    total = sum(per.values())
    print(f"  {'chapters total':24s} {total:7.1f} s")
    print(f"  {'wall time':24s} {wall:7.1f} s")
    print(
        json.dumps(
            {
                "mode": mode,
                "profile": args.profile or "default",
                "chapters": per,
                "chapters_total_s": total,
                "wall_s": wall,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
