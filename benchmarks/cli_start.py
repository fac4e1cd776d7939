"""How fast the command line starts: ``mvlib --help`` and ``mvlib --version`` beside ``python -c pass``.

Each command is run ``--repeat`` times (interleaved, so that a background load weighs on
all of them alike) under ``/usr/bin/time -v``; the wall time is measured around the process,
the peak memory is GNU time's "Maximum resident set size" of the command (without
``/usr/bin/time``, ``os.wait4``'s ``ru_maxrss``, which also counts what the child shared with
this process when it was forked). Medians are reported, with the ratio to ``python -c pass``
and the limits mvlib keeps (0.3 s, 80 MiB)::

    python benchmarks/cli_start.py                    # this checkout, medians of 5
    python benchmarks/cli_start.py --write            # also benchmarks/results/cli_start.json
    git worktree add --detach /tmp/mvlib-old v0.1.0   # another version of mvlib beside it
    python benchmarks/cli_start.py --baseline /tmp/mvlib-old --write

Every command runs with ``PYTHONPATH`` set to the checkout it measures (this one, or
``--baseline``'s), through the console script beside this Python (``python -m mvlib`` when
there is none).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import provenance  # benchmarks/provenance.py: a script beside this one

from mvlib.core.cache import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
GNU_TIME = "/usr/bin/time"
LIMIT_S, LIMIT_MIB = 0.3, 80.0  #: what `mvlib --help` and `--version` may take


def mvlib_command() -> list[str]:
    """The ``mvlib`` console script of this Python's environment, or ``python -m mvlib``."""
    script = Path(sys.executable).parent / "mvlib"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mvlib"]


def commands() -> dict[str, list[str]]:
    mvlib = mvlib_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mvlib --help": [*mvlib, "--help"],
        "mvlib --version": [*mvlib, "--version"],
    }


def _gnu_time_rss(report: str) -> float:
    for line in report.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) / 1024  # KiB -> MiB
    raise RuntimeError(f"no peak memory in /usr/bin/time's report:\n{report[-1000:]}")


def run_once(cmd: list[str], env: dict) -> tuple[float, float]:
    """``(wall seconds, peak RSS MiB)`` of one run of ``cmd`` (exit status 0 required)."""
    if os.path.exists(GNU_TIME):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as rep:
            t0 = time.perf_counter()
            out = subprocess.run(
                [GNU_TIME, "-v", "-o", rep.name, *cmd],
                env=env,
                cwd=tempfile.gettempdir(),  # not a checkout: `python -c` imports from the cwd
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t0
            rss = _gnu_time_rss(Path(rep.name).read_text())
    else:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = subprocess.CompletedProcess(cmd, proc.returncode, proc.stdout.read(), b"")
        rss = usage.ru_maxrss / 1024  # KiB -> MiB
    if out.returncode != 0:
        sys.exit(f"cli_start: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return wall, rss


def checkout_of(pythonpath: Path, env: dict) -> dict:
    """Where the measured mvlib was imported from, and that checkout's commit."""
    where = subprocess.run(
        [sys.executable, "-c", "import mvlib, os; print(os.path.dirname(mvlib.__file__))"],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def git(*args) -> str:
        r = subprocess.run(["git", "-C", str(pythonpath), *args], capture_output=True, text=True)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "mvlib": where,
        "commit": (git("rev-parse", "HEAD") or "unknown") + ("+dirty" if dirty else ""),
    }


def measure(sides: dict[str, Path], repeat: int) -> dict:
    """Medians per side and command: ``{side: {command: {wall_s, peak_mib, runs}}}``."""
    envs = {side: {**os.environ, "PYTHONPATH": str(path)} for side, path in sides.items()}
    cmds = commands()
    runs: dict = {side: {name: [] for name in cmds} for side in sides}
    for _ in range(repeat):
        for side in sides:
            for name, cmd in cmds.items():
                runs[side][name].append(run_once(cmd, envs[side]))
    out: dict = {}
    for side in sides:
        out[side] = {"checkout": checkout_of(sides[side], envs[side])}
        for name, rs in runs[side].items():
            out[side][name] = {
                "wall_s": round(statistics.median(w for w, _ in rs), 4),
                "peak_mib": round(statistics.median(m for _, m in rs), 1),
                "runs": [[round(w, 4), round(m, 1)] for w, m in rs],
            }
    return out


def report(res: dict) -> list[str]:
    lines = []
    for side, cmds in res.items():
        floor = cmds["python -c pass"]
        lines.append(f"{side} ({cmds['checkout']['commit']}, {cmds['checkout']['mvlib']}):")
        for name, m in cmds.items():
            if name == "checkout":
                continue
            ok = ""
            if name.startswith("mvlib"):
                within = m["wall_s"] <= LIMIT_S and m["peak_mib"] <= LIMIT_MIB
                ok = "  within the limits" if within else f"  OVER {LIMIT_S} s / {LIMIT_MIB} MiB"
            lines.append(
                f"  {name:<16} {m['wall_s']:7.3f} s ({m['wall_s'] / floor['wall_s']:5.1f}x)"
                f"  {m['peak_mib']:7.1f} MiB ({m['peak_mib'] / floor['peak_mib']:5.1f}x){ok}"
            )
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per command (medians reported)")
    ap.add_argument(
        "--baseline", type=Path, help="another mvlib checkout to measure beside this one"
    )
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/cli_start.json")
    args = ap.parse_args(argv)
    sides = {"this checkout": ROOT}
    if args.baseline:
        sides = {"baseline": args.baseline.resolve(), **sides}
    res = measure(sides, args.repeat)
    print(
        f"medians of {args.repeat}; ratios to `python -c pass`; limits {LIMIT_S} s, {LIMIT_MIB} MiB"
    )
    print("\n".join(report(res)))
    if args.write:
        result = {
            "what": "Start of the command line: `mvlib --help` and `mvlib --version` beside "
            "`python -c pass`",
            "command": "python benchmarks/cli_start.py" + " ".join([""] + (argv or sys.argv[1:])),
            "commit": provenance.commit(),
            "date": datetime.date.today().isoformat(),
            "machine": provenance.machine(),
            "repeat": args.repeat,
            "peak_memory": (
                "GNU time -v, maximum resident set size"
                if os.path.exists(GNU_TIME)
                else "os.wait4 ru_maxrss (includes the forking process's pages)"
            ),
            "mvlib_command": " ".join(Path(c).name for c in mvlib_command()),
            "limits": {"wall_s": LIMIT_S, "peak_mib": LIMIT_MIB},
            "sides": res,
        }
        RESULTS.mkdir(exist_ok=True)
        atomic_write_json(RESULTS / "cli_start.json", result)
        print(RESULTS / "cli_start.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
