"""``mvlib compare``: the book's paired table for any probed runs of the same data and test set.

A user who trained their own objective (or frontend) wants it against rec (or log-mel) with
the statistics of the book's Tables 1 and 2: the paired difference to a reference
configuration on the same test clips and units, its 95% interval and p-value with test
sensors as clusters and Student's t over units (:mod:`mvlib.evaluate.significance`), Holm
over the table, each row's MDD and verdict (:func:`mvlib.report.comparison.compare`).

What is compared
----------------
Every argument is a probed run folder (``results.json`` + ``predictions.npz``) or a folder
holding such runs (a sweep's ``runs/<profile>`` folder of the cache, say). Runs are grouped
into configurations by their resolved config without its seeds (``train.seed``,
``probe.seed``, ``split.pair_seed``, ``split.seed``) and by what was probed (the method in
``results.json``: the frontend-only baseline has the sweep's base config, rec's, but its
method is "frontend"); a run's unit is its (split seed, seed). A configuration of chapter 4's grid is named as the book's tables name it (``rec``,
``rec + cos- sample``, ``singleview AE``, ``supervised sensor``…); any other after its
method and objective (``multiview shared_l1``, ``frontend logmel``…), with the run folder's
name added where two configurations would share a name.

What is refused (one-line :class:`MvlibError`)
----------------------------------------------
Runs of different data (the dataset identity in ``results.json``: another ``data.root``,
another synthetic set) and runs of one unit whose test partitions differ (other clips or
sensors, e.g. other split settings): the error names both runs and what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvlib import sweep
from mvlib.core.cache import atomic_write_text
from mvlib.core.errors import MvlibError
from mvlib.evaluate.probe.results import load_predictions
from mvlib.report.comparison import Table, compare
from mvlib.report.export import snake
from mvlib.report.results import RESULTS_FILE, collect_runs

__all__ = ["RunInfo", "find_runs", "compare_runs", "format_table"]

#: config fields that vary between the units of one configuration, not between configurations
UNIT_FIELDS = {("train", "seed"), ("probe", "seed"), ("split", "pair_seed"), ("split", "seed")}


@dataclass(frozen=True)
class RunInfo:
    """A probed run as compare sees it."""

    run_dir: Path
    label: str  #: configuration name (before disambiguation)
    identity: str  #: the resolved config without its seeds, and what was probed (JSON): the key
    group: str  #: method
    seed: int
    split_seed: int | None
    data: str
    frontend: str


def find_runs(paths) -> list[Path]:
    """Probed run folders: each path itself, or the probed runs below it (any depth).

    Raises
    ------
    MvlibError
        A path that does not exist, or holds no probed run.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise MvlibError(p, "does not exist", "pass probed run folders or a folder of them")
        if (p / RESULTS_FILE).is_file():
            out.append(p)
            continue
        found = sorted(f.parent for f in p.rglob(RESULTS_FILE)) if p.is_dir() else []
        if not found:
            raise MvlibError(
                p,
                f"is not a probed run (no {RESULTS_FILE}) and holds none",
                "probe the run first (mvlib probe RUN_DIR), or pass a sweep's runs folder",
            )
        out.extend(found)
    return list(dict.fromkeys(out))  # each run once, in the order given


def _label(summary: dict) -> str:
    method = summary.get("method") or "run"
    if method == "multiview":
        parts = [method, str(summary.get("objective") or "")]
        if summary.get("level") and summary.get("objective") in ("cos_plus", "cos_minus"):
            parts.append(str(summary["level"]))
        if summary.get("mask_ratio") is not None:
            parts.append(f"r={summary['mask_ratio']:g}")
        return " ".join(p for p in parts if p)
    if method == "supervised":
        return f"supervised {summary.get('supervised_task') or ''}".strip()
    if method == "frontend":
        return f"frontend {summary.get('frontend') or ''}".strip()
    return str(method)


def _grid_name(config: dict) -> str | None:
    """The name chapter 4 gives this run's configuration, if the grid holds it."""
    ratio = (config.get("objective") or {}).get("mask_ratio")
    for entry in sweep.grid((ratio,) if isinstance(ratio, int | float) else ()):
        wanted = entry.overrides()
        if all(
            (config.get(key.split(".")[0]) or {}).get(key.split(".")[1]) == value
            for key, value in wanted.items()
        ):
            return entry.name
    return None


def _run_info(run_dir: Path) -> RunInfo:
    res = json.loads((run_dir / RESULTS_FILE).read_text())
    summary, config = res.get("summary") or {}, res.get("config") or {}
    ident = {
        sec: {k: v for k, v in (fields or {}).items() if (sec, k) not in UNIT_FIELDS}
        for sec, fields in config.items()
        if isinstance(fields, dict)
    }
    ident["frontend identity"] = summary.get("frontend")
    # what was probed: the frontend-only baseline carries the sweep's base config (rec's),
    # so only its results' method ("frontend") sets it apart from the trained runs
    ident["probed"] = summary.get("method")
    split_seed = (config.get("split") or {}).get("seed")
    train = (config.get("train") or {}).get("seed", summary.get("seed", 0))
    return RunInfo(
        run_dir=run_dir,
        label=(_grid_name(config) if summary.get("method") != "frontend" else None)
        or _label(summary),
        identity=json.dumps(ident, sort_keys=True, default=str),
        group=str(summary.get("method") or ""),
        seed=int(train if train is not None else 0),
        split_seed=None if split_seed is None else int(split_seed),
        data=str(summary.get("data")),
        frontend=str(summary.get("frontend")),
    )


def _test_partition(run_dir: Path, cache: dict) -> tuple[frozenset, frozenset]:
    """(test clip ids, (clip, sensor) pairs) of a run's probe test partition."""
    if str(run_dir) not in cache:
        cache[str(run_dir)] = load_predictions(run_dir)
    pred = cache[str(run_dir)]
    clips = np.asarray(pred["clip_id.test"]).astype(str)
    sensors = np.asarray(pred["sensor_classes"]).astype(str)[pred["y_sensor.test"]]
    return frozenset(clips), frozenset(zip(clips, sensors, strict=True))


def _check_same_data(runs: list[RunInfo], cache: dict) -> None:
    """Refuse runs of other data, or of one unit with another test partition."""
    first = runs[0]
    for r in runs[1:]:
        if r.data != first.data:
            raise MvlibError(
                r.run_dir,
                f"was trained on other data ({r.data}) than {first.run_dir} ({first.data})",
                "compare only runs of the same dataset (data.root and synthetic set)",
            )
    by_unit: dict = {}
    for r in runs:
        by_unit.setdefault((r.split_seed, r.seed), []).append(r)
    for (split_seed, seed), members in by_unit.items():
        base = _test_partition(members[0].run_dir, cache)
        for r in members[1:]:
            other = _test_partition(r.run_dir, cache)
            if other == base:
                continue
            common = len(base[0] & other[0])
            what = "sensors" if base[0] == other[0] else "clips"
            raise MvlibError(
                r.run_dir,
                f"has another test partition than {members[0].run_dir} (split seed {split_seed}, "
                f"seed {seed}: other test {what}; {len(other[0])} vs {len(base[0])} test "
                f"clips, {common} in common)",
                "compare only runs probed on the same test partition (same split settings)",
            )


def _configurations(runs: list[RunInfo]) -> dict[str, str]:
    """identity -> unique configuration name (with its frontend where runs mix frontends)."""
    mixed = len({r.frontend for r in runs}) > 1
    names: dict[str, str] = {}
    for r in runs:
        label = f"{r.label} ({r.frontend})" if mixed and r.group != "frontend" else r.label
        names.setdefault(r.identity, label)
    counts: dict[str, int] = {}
    for label in names.values():
        counts[label] = counts.get(label, 0) + 1
    first_dir = {}
    for r in runs:
        first_dir.setdefault(r.identity, r.run_dir.name)
    return {
        ident: (label if counts[label] == 1 else f"{label} [{first_dir[ident]}]")
        for ident, label in names.items()
    }


def compare_runs(paths, reference: str, *, out=None, force: bool = False) -> Table:
    """The paired comparison table of probed runs against a reference configuration.

    Parameters
    ----------
    paths : run folders, or folders holding probed runs (e.g. a sweep's)
    reference : the configuration every other one is compared with (``row - reference``):
        its name (as listed in the error when it is not found) or one of its run folders
    out : path of a CSV file to write (atomically; ``table.data`` with snake_case columns,
        one row per configuration); None: write nothing
    force : replace an existing ``out``

    Returns
    -------
    mvlib.report.comparison.Table
        ``display`` the main table, ``comparisons`` one row per (configuration, task),
        ``notes`` the footer (per-row MDD median and range, unstable units).

    Raises
    ------
    MvlibError
        No probed run; runs of other data or another test partition; an unknown reference;
        ``out`` exists (without ``force``).

    Examples
    --------
    >>> import mvlib
    >>> table = mvlib.compare_runs(["runs/rec", "runs/mine"], reference="rec")
    >>> list(table.data["configuration"])  # runs/mine: a cos_minus run of the same data
    ['rec', 'rec + cos- sample']
    """
    runs = [_run_info(p) for p in find_runs(paths)]
    cache: dict = {}
    _check_same_data(runs, cache)
    names = _configurations(runs)
    by_dir = {str(r.run_dir.resolve()): names[r.identity] for r in runs}
    ref_path = str(Path(reference).resolve()) if Path(reference).exists() else None
    reference = by_dir.get(ref_path, reference) if ref_path else reference
    configs = list(dict.fromkeys(names[r.identity] for r in runs))
    if reference not in configs:
        raise MvlibError(
            f"--reference {reference}",
            f"is not one of the configurations compared: {configs}",
            "pass one of these names, or one of its run folders",
        )
    if len(configs) < 2:
        raise MvlibError(
            "compare", f"all runs are of one configuration ({configs[0]})", "add other runs"
        )
    if out is not None and Path(out).exists() and not force:
        raise MvlibError(out, "already exists", "pass --force to replace it, or another --out")
    if out is not None and not Path(out).parent.is_dir():
        raise MvlibError(out, "is in a folder that does not exist", "create the folder first")
    df = collect_runs((names[r.identity], r.group, r.seed, r.split_seed, r.run_dir) for r in runs)
    frontends = sorted(df["frontend"].astype(str).unique())
    if len(frontends) > 1:  # compare() keeps one frontend per table: name the mix once
        df["frontend"] = " | ".join(frontends)
    order = [reference] + [c for c in configs if c != reference]
    table = compare(df, {c: (c, c) for c in order}, reference, name="compare")
    if out is not None:  # the book's CSV conventions: snake_case columns, empty = no value
        data = table.data.rename(columns=lambda c: snake(str(c)))
        atomic_write_text(Path(out), data.to_csv(index=False, na_rep=""))
    return table


def format_table(table: Table) -> str:
    """The main table and its notes as plain text for a terminal."""
    with_width = table.display.to_string(max_colwidth=60)
    return f"{with_width}\n\n{table.notes}" if table.notes else with_width
