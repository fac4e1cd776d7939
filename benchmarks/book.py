"""How long the book takes to build from an empty cache, and whether every page of that build
is right: seconds per chapter and in total, then the browser checks of every page.

Builds with a fresh, temporary ``MVLIB_CACHE`` and torch.compile kernel cache (nothing
cached: the dataset, latent stores, every run of the sweep and compiled kernels are made), so
the figure is what a new user waits on a fresh clone once the environment is installed::

    python benchmarks/book.py                      # jupyter-book build --all book/ (make book)
    python benchmarks/book.py --profile full       # the paper-sized sweep (about 80 min)
    python benchmarks/book.py --profile ci         # a small profile, to check the script
    python benchmarks/book.py --papermill          # each chapter through papermill, in order

The jupyter-book mode parses MyST-NB's ``<chapter>.ipynb: Executed notebook in N seconds``
log line of each chapter and also reports the whole build's wall time, which adds the HTML
writing. Then it opens every page of ``book/_toc.yml`` of *that* build in headless Chromium,
network off (``tests/browser_book.py``'s checks: no NaN cell, no error output, no broken
link, equations typeset, media loaded, no table wider than its column at 1400 pixels, the
chapter 5 explorer), prints what it saw on each page and a summary ``pages checked / passed``,
and exits 1 when a page fails. The measurement goes to ``benchmarks/results/book-<profile>.json``
(profile, commit, machine, date, seconds per chapter, wall seconds, browser summary), from
which ``benchmarks/README.md`` and the chapters take their figures.

The papermill mode times each chapter's execution in toc order (no HTML, so no browser check
and no results file).
"""

from __future__ import annotations

import argparse
import datetime
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
RESULTS = Path(__file__).resolve().parent / "results"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: MyST-NB: "<path>/01_data_pairing.ipynb: Executed notebook in 54.23 seconds [mystnb]"
EXECUTED = re.compile(r"([^\s/]+)\.ipynb: Executed notebook in ([0-9.]+) seconds")

sys.path.insert(0, str(ROOT / "tests"))
import browser_book  # noqa: E402  (tests/browser_book.py: the browser checks of a built book)
import provenance  # noqa: E402  (benchmarks/provenance.py)
from provenance import commit  # noqa: E402, F401

from mvlib.core.cache import atomic_write_json  # noqa: E402


def chapters() -> list[str]:
    """Notebook chapters in toc order (``01_data_pairing`` ...)."""
    return [n for n in browser_book.toc_pages() if (BOOK / f"{n}.ipynb").exists()]


def parse_log(text: str) -> dict[str, float]:
    """``{chapter: seconds}`` from a jupyter-book build log (MyST-NB execution lines)."""
    out = {}
    for line in ANSI.sub("", text).splitlines():
        m = EXECUTED.search(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def machine() -> dict:
    """What the figures were measured on (the book runs on the CPU)."""
    return provenance.machine()


def build_jupyter_book(env: dict, log_path: Path, out_dir: Path) -> tuple[dict, float]:
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
    if proc.returncode != 0:
        sys.exit(f"jupyter-book failed (exit {proc.returncode}); log: {log_path}")
    return parse_log(log_path.read_text()), wall


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
            str(work),  # the chapters write nothing into the working folder: an empty one
            str(BOOK / f"{name}.ipynb"),
            str(work / f"{name}.ipynb"),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        out[name] = time.perf_counter() - t0
        print(f"{name:24s} {out[name]:7.1f} s", file=sys.stderr, flush=True)
    return out, time.perf_counter() - t_all


def browser_checks(html: Path) -> dict:
    """Run ``tests/browser_book.py``'s checks on every page of the build; print each page."""
    t0 = time.perf_counter()
    pages = browser_book.check_book(html)
    failed = [p for p in pages if p["problems"]]
    print(f"browser checks of {html} (tests/browser_book.py, network off):")
    for p in pages:
        print(f"  {p['page']}: {'FAIL' if p['problems'] else 'ok'} — {p['seen']}")
        for problem in p["problems"]:
            print(f"      problem: {problem}")
    summary = {
        "pages_checked": len(pages),
        "pages_passed": len(pages) - len(failed),
        "failed": {p["page"]: p["problems"] for p in failed},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"  pages checked {summary['pages_checked']}, passed {summary['pages_passed']}")
    return summary


#: what this script measures: the fields it (re)writes in a results file
MEASURED = (
    "what",
    "command",
    "mode",
    "profile",
    "commit",
    "date",
    "date_source",
    "machine",
    "chapters",
    "chapters_total_s",
    "wall_s",
    "browser",
)


def write_results(record: dict, profile: str) -> Path:
    """``benchmarks/results/book-<profile>.json`` (temp file, then rename).

    The fields of :data:`MEASURED` are replaced. Fields that other measurements added to the
    file (e.g. the tables' MDDs from ``benchmarks/power.py``) are kept, and named under
    ``kept_from`` with the commit and date that measured them, so that no figure is
    attributed to a build that did not produce it.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"book-{profile}.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    kept = {k: v for k, v in old.items() if k not in MEASURED and k != "kept_from"}
    if kept:
        before = old.get("kept_from") or {"commit": old.get("commit"), "date": old.get("date")}
        kept["kept_from"] = {**before, "fields": sorted(k for k in kept if k != "kept_from")}
        print(
            f"{path.name}: kept {', '.join(kept['kept_from']['fields'])} of the measurement at "
            f"commit {before.get('commit')} ({before.get('date')}); re-measure them to update"
        )
    record = {**kept, **record}
    atomic_write_json(path, record)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--profile", default=None, help="MVLIB_PROFILE for the build (default: default)"
    )
    ap.add_argument("--papermill", action="store_true", help="time chapters with papermill")
    ap.add_argument("--chapters", help="papermill mode: comma-separated chapters (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache and HTML")
    ap.add_argument(
        "--no-results", action="store_true", help="do not write benchmarks/results/book-*.json"
    )
    args = ap.parse_args(argv)
    profile = args.profile or "default"

    cache = Path(tempfile.mkdtemp(prefix="mvlib-book-cache-"))
    env = {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    # torch.compile's kernel cache too starts empty (the DAC proof compiles Snake)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "torchinductor")
    env["MVLIB_PROFILE"] = profile
    names = chapters()
    html_dir = Path(tempfile.mkdtemp(prefix="mvlib-book-html-"))
    browser = None
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        if args.papermill:
            if args.chapters:
                names = [n for n in names if n in args.chapters.split(",")]
            per, wall = build_papermill(env, names, Path(tempfile.mkdtemp(prefix="mvlib-nb-")))
        else:
            per, wall = build_jupyter_book(env, cache / "build.log", html_dir)
            browser = browser_checks(html_dir / "_build" / "html")
    finally:
        if args.keep:
            print(f"cache kept in {cache}, HTML in {html_dir}", file=sys.stderr)
        else:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(html_dir, ignore_errors=True)
    mode = "papermill" if args.papermill else "jupyter-book build --all"
    host = machine()
    print(
        f"book build from an empty cache ({mode}, profile {profile}, {host['cores']} CPUs, "
        f"{host['cpu']})"
    )
    for name in names:
        print(f"  {name:24s} {per.get(name, float('nan')):7.1f} s")
    total = sum(per.values())
    print(f"  {'chapters total':24s} {total:7.1f} s")
    print(f"  {'wall time':24s} {wall:7.1f} s")
    record = {
        "what": "book build from an empty cache (benchmarks/book.py)",
        "command": " ".join(["python benchmarks/book.py", *(argv or sys.argv[1:])]),
        "mode": mode,
        "profile": profile,
        "commit": commit(),
        "machine": host,
        "date": started.isoformat(timespec="seconds"),
        "date_source": "the start of this measurement",
        "chapters": {k: round(v, 1) for k, v in per.items()},
        "chapters_total_s": round(total, 1),
        "wall_s": round(wall, 1),
        "browser": browser,
    }
    print(json.dumps(record))
    if browser is not None and not args.no_results:
        print(f"written: {write_results(record, profile)}")
    if browser is not None and browser["pages_passed"] < browser["pages_checked"]:
        print(
            f"FAILED: {browser['pages_checked'] - browser['pages_passed']} of "
            f"{browser['pages_checked']} pages fail the browser checks: "
            f"{', '.join(browser['failed'])}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
