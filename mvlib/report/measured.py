"""Measured figures of book builds: results files with their profile, commit, machine, date.

A chapter states a figure of another build (the ``full`` profile's MDDs and build time,
measured on another day) only by reading it from a results file, never as typed text.
The files live in the source repository's ``benchmarks/results/`` (``book-<profile>.json``,
rendered into ``benchmarks/README.md`` by ``benchmarks/readme.py``); an installed mvlib
without the repository has none, and the chapters say so.

A book-build file holds::

    what        "book build from an empty cache (benchmarks/book.py)"
    profile     params profile built
    commit      git commit measured
    date        day measured (ISO), and date_source: how that day is known
    machine     {"cpu", "cores", ...}
    wall_s      wall time of the whole build; chapters: {chapter: seconds}
    procedure   the statistical procedure the table figures were computed with
    design      the profile's design in words (units × test clips, trainings)
    tables      {"table1": {"mdd": {task: MDD}, "comparisons": [row, ...]}, "table2": ...}:
                per task either one number (one MDD for the whole table) or {"median",
                "min", "max"} of the per-row MDDs (``procedure`` "cluster", the book's);
                each comparison row: configuration, task, estimate, ci_low, ci_high,
                p_holm, mdd, verdict
    claims      [{"claim", "verdict"}]: chapter 4's reading of the build's tables
    best_multiview_on_validation  the multi-view row the build chose
    tables_measured  {"commit", "date", "machine", "command"}: who computed ``tables``
                (``benchmarks/power.py --write``, from the build's runs)
    kept_from   {"commit", "date", "fields"}: fields kept from an earlier measurement when
                ``benchmarks/book.py`` re-measured the build's times (their own provenance)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mvlib.core.errors import MvlibError
from mvlib.core.resources import checkout_root

__all__ = [
    "RESULTS_DIR",
    "REQUIRED",
    "BuildResult",
    "book_results_file",
    "load_build",
    "load_design",
    "read_results",
]

#: benchmarks/results/ of the source repository (absent from an installed package)
RESULTS_DIR = (checkout_root() or Path(__file__).resolve().parents[2]) / "benchmarks" / "results"
#: what every results file must say about where its figures come from
REQUIRED = ("what", "commit", "date", "machine")


@dataclass(frozen=True)
class BuildResult:
    """One measured book build (see the module docstring for the file's fields)."""

    path: Path
    profile: str
    commit: str
    date: str
    machine: dict
    wall_s: float
    chapters: dict = field(default_factory=dict)
    procedure: str = ""
    design: str = ""
    tables: dict = field(default_factory=dict)
    kept_from: dict = field(default_factory=dict)
    tables_measured: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)
    best_multiview: str = ""

    def comparisons(self, table: str) -> list[dict]:
        """The table's paired comparisons as measured (empty: not recorded)."""
        return list((self.tables.get(table) or {}).get("comparisons") or [])

    def provenance_of(self, name: str) -> tuple[str, str]:
        """(commit, date) that measured field ``name``: its own record (``tables_measured``),
        ``kept_from``'s, or the file's."""
        if name == "tables" and self.tables_measured:
            return str(self.tables_measured.get("commit")), str(self.tables_measured.get("date"))
        if name in (self.kept_from.get("fields") or ()):
            return str(self.kept_from.get("commit")), str(self.kept_from.get("date"))
        return self.commit, self.date

    def machine_text(self) -> str:
        """The machine in words: ``AMD EPYC (Zen 3), 2 cores``."""
        m = self.machine
        cores = f", {m['cores']} cores" if m.get("cores") else ""
        return f"{m.get('cpu', 'unknown CPU')}{cores}"

    def mdd(self, table: str, task: str) -> float | None:
        """The table's minimum detectable difference on a task, as measured (None: absent):
        the table's one MDD, or the median of the per-row MDDs."""
        r = self.mdd_range(table, task)
        return None if r is None else r[0]

    def mdd_range(self, table: str, task: str) -> tuple[float, float, float] | None:
        """(median, min, max) of the table's per-row MDDs on a task (one number: all three)."""
        v = (self.tables.get(table) or {}).get("mdd", {}).get(task)
        if v is None:
            return None
        if isinstance(v, dict):
            return float(v["median"]), float(v["min"]), float(v["max"])
        return float(v), float(v), float(v)

    @property
    def per_row(self) -> bool:
        """Are the tables' MDDs per row (the book's procedure), not one per table?"""
        return self.procedure == "cluster"


def book_results_file(profile: str, folder: Path | None = None) -> Path:
    """``benchmarks/results/book-<profile>.json`` (or in ``folder``)."""
    return Path(folder or RESULTS_DIR) / f"book-{profile}.json"


def load_build(path) -> BuildResult | None:
    """A measured book build from its results file; None when the file does not exist.

    Raises :class:`MvlibError` when the file exists but lacks its provenance (profile,
    commit, machine, date) or the build time.
    """
    path = Path(path)
    d = read_results(path, ("profile", "wall_s"), "add them (see mvlib.report.measured)")
    if d is None:
        return None
    return BuildResult(
        path=path,
        profile=str(d["profile"]),
        commit=str(d["commit"]),
        date=str(d["date"]),
        machine=dict(d["machine"]),
        wall_s=float(d["wall_s"]),
        chapters=dict(d.get("chapters") or {}),
        procedure=str(d.get("procedure", "")),
        design=str(d.get("design", "")),
        tables=dict(d.get("tables") or {}),
        kept_from=dict(d.get("kept_from") or {}),
        tables_measured=dict(d.get("tables_measured") or {}),
        claims=list(d.get("claims") or []),
        best_multiview=str(d.get("best_multiview_on_validation") or ""),
    )


def load_design(path=None) -> dict | None:
    """The design benchmark's results (``benchmarks/results/design.json``), or None if absent.

    Raises :class:`MvlibError` when the file exists but lacks its provenance or candidates.
    """
    path = Path(path or RESULTS_DIR / "design.json")
    fix = "measure it again (python benchmarks/design.py --write)"
    return read_results(path, ("candidates", "budget_s"), fix)


def read_results(path: Path, needs: tuple[str, ...], fix: str) -> dict | None:
    """A results file's contents (None when it does not exist), checked for its provenance
    (:data:`REQUIRED`) and for ``needs``.

    Raises
    ------
    MvlibError
        Not valid JSON, or a field missing (``fix`` says how to mend it).
    """
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MvlibError(path, f"not valid JSON ({e.msg}, line {e.lineno})", "fix the file") from e
    missing = [k for k in (*REQUIRED, *needs) if k not in d]
    if missing:
        raise MvlibError(path, f"results file lacks {', '.join(missing)}", fix)
    return d
