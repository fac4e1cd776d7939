"""Verifying a latent store: every check a store supports, and the commands that redo it.

:func:`verify_store` reads every part (headers, index integrity, data length, the CRC-32 of
every live clip's bytes, one row per clip) and, given the dataset, that each clip is there
from unchanged audio; its :class:`VerifyReport` names each finding and the ``mvlib extract
--shard i/N`` that redoes it.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mvlib.frontend.store.format import (
    BAD_FILE,
    DATA_FILE,
    DTYPE,
    StoreError,
    check_part_header,
    entry_uid,
    iter_lines,
    list_parts,
    part_shard,
    read_header,
    read_part_header,
    scan_part,
)
from mvlib.frontend.store.source import audio_changed

#: findings that make :func:`verify_store` fail (the rest are notes)
PROBLEMS = (
    "header",
    "part-header",
    "index-corrupt",
    "data-lost",
    "corrupt-latent",
    "conflicting-duplicate",
    "missing",
    "audio-changed",
)


@dataclass
class Finding:
    """One thing :func:`verify_store` found: ``kind`` (a :data:`PROBLEMS` entry, or a note:
    ``torn-tail``, ``duplicate``, ``bad-audio``, ``extra``), the clip and part concerned,
    a detail, and the shard ``(i, N)`` whose extraction redoes it (None: nothing to redo)."""

    kind: str
    clip_id: str | None
    part: str | None
    detail: str
    shard: tuple[int, int] | None = None
    needs_verify: bool = False  #: the redo must re-check content (``mvlib extract --verify``)

    @property
    def problem(self) -> bool:
        return self.kind in PROBLEMS


@dataclass
class VerifyReport:
    """What :func:`verify_store` checked and found, and the commands that redo it."""

    path: Path
    parts: list[str]
    n_live: int
    n_expected: int | None
    findings: list[Finding]
    data_dir: str | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def commands(self) -> list[str]:
        """One ``mvlib extract`` per shard that has something to redo."""
        need: dict[tuple[int, int], bool] = {}
        for f in self.problems:
            if f.shard is not None:
                need[f.shard] = need.get(f.shard, False) or f.needs_verify
        data = f" --data {self.data_dir}" if self.data_dir else ""
        return [
            f"mvlib extract{data} --out {self.path} --shard {i}/{n}" + (" --verify" if v else "")
            for (i, n), v in sorted(need.items())
        ]

    def text(self, limit: int = 10) -> str:
        """The report for people: a verdict, findings by kind (first few named), commands."""
        exp = f" of {self.n_expected} expected" if self.n_expected is not None else ""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"{self.path}: {verdict}: {self.n_live} clips{exp} in {len(self.parts)} part(s)"]
        kinds: dict[str, list[Finding]] = {}
        for f in self.findings:
            kinds.setdefault(f.kind, []).append(f)
        for kind, fs in sorted(kinds.items(), key=lambda kv: (not kv[1][0].problem, kv[0])):
            label = "problem" if fs[0].problem else "note"
            lines.append(f"  {label}: {kind}: {len(fs)}")
            for f in fs[:limit]:
                where = " ".join(x for x in (f.clip_id and f"clip {f.clip_id!r}", f.part) if x)
                lines.append(f"    {where}: {f.detail}" if where else f"    {f.detail}")
            if len(fs) > limit:
                lines.append(f"    ... and {len(fs) - limit} more")
        cmds = self.commands()
        if cmds:
            lines.append("  redo (with the profile/--set that made this store):")
            lines += [f"    {c}" for c in cmds]
        for f in self.problems:
            if f.kind in ("part-header", "index-corrupt") and f.part:
                lines.append(f"  move {self.path / f.part} away, then extract its shard again")
        return "\n".join(lines)


def _layout(parts: list[str]) -> int:
    """The shard count N most parts were written with (1 for an empty store)."""
    ns = [part_shard(p)[1] for p in parts]
    return max(set(ns), key=ns.count) if ns else 1


def verify_store(
    path: str | os.PathLike,
    clips: pd.DataFrame | None = None,
    full: bool = True,
    data_dir: str | os.PathLike | None = None,
) -> VerifyReport:
    """Check every part of a store, and optionally that it holds a dataset exactly.

    Checks: headers (``store.json`` and each part's, against each other), index integrity,
    data length against the index, the CRC-32 of every live clip's latent bytes, one row per
    clip. With ``clips`` (``clip_id``, ``audio_path``; the subset the store's
    ``features_config.max_clips`` took): every clip present, or recorded as bad audio, and
    its audio unchanged (size and mtime; with ``full`` also the content hash).

    Returns
    -------
    VerifyReport
        ``ok`` when nothing needs redoing; ``commands()`` the extractions that redo it.
    """
    path = Path(path)
    found: list[Finding] = []
    parts = list_parts(path)
    header = _store_header(path, parts, found)
    report = VerifyReport(path, parts, 0, None, found, str(data_dir) if data_dir else None)
    if header is None:
        return report
    live: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    bad: dict[str, dict[str, Any]] = {}
    for p in parts:
        if _check_part(path, p, header, found, live):
            bad.update(_bad_audio(path, p))
    found += _duplicates(live)
    report.n_live = len(live)
    if clips is not None:
        _check_dataset(report, header, clips, live, bad, full)
    return report


def _store_header(path: Path, parts: list[str], found: list[Finding]) -> dict[str, Any] | None:
    """``store.json``'s header (a finding when it is unreadable), else the first readable
    part header (for the dim), else None."""
    header: dict[str, Any] | None
    try:
        header = read_header(path)
    except StoreError as e:
        found.append(Finding("header", None, None, e.line()))
        header = None
    if header is not None:
        return header
    for p in parts:
        try:
            header = read_part_header(path / p)
        except StoreError:
            continue
        if header is not None:
            return header
    return None


def _check_part(
    path: Path,
    p: str,
    header: dict[str, Any],
    found: list[Finding],
    live: dict[str, list[tuple[str, dict[str, Any]]]],
) -> bool:
    """One part: its header and index, data length and CRC-32s; its live rows go to
    ``live`` (clip id -> [(part, index entry)]). False: the part is unreadable."""
    shard = part_shard(p)
    dim = int(header["dim"])
    try:
        scan = scan_part(path / p, dim)
        check_part_header(path, scan, header)
    except StoreError as e:
        kind = "part-header" if "index" not in str(e.culprit) else "index-corrupt"
        found.append(Finding(kind, None, p, e.line(), shard))
        return False
    if scan.torn_index_bytes:
        found.append(
            Finding(
                "torn-tail",
                None,
                p,
                f"{scan.torn_index_bytes} bytes of a torn index "
                "line (a crash): ignored, and cut by the next writer",
            )
        )
    for e in scan.lost:
        if entry_uid(e) not in scan.retired:
            found.append(
                Finding(
                    "data-lost",
                    e["clip_id"],
                    p,
                    f"latent bytes beyond the end of " f"{DATA_FILE} ({scan.data_bytes} bytes)",
                    shard,
                )
            )
    entries = scan.live()
    if entries:
        found += _crc_mismatches(path, p, entries, dim * DTYPE.itemsize, shard)
    for e in entries:
        live.setdefault(str(e["clip_id"]), []).append((p, e))
    return True


def _crc_mismatches(path: Path, p: str, entries: list, row_bytes: int, shard) -> list[Finding]:
    """``corrupt-latent`` findings of the live entries whose bytes' CRC-32 is not the
    recorded one."""
    found = []
    mm = np.memmap(path / p / DATA_FILE, dtype=np.uint8, mode="r")
    for e in entries:
        a, n = e["offset"] * row_bytes, int(e["frames"]) * row_bytes
        crc = zlib.crc32(mm[a : a + n])
        if "latent_crc32" in e and crc != e["latent_crc32"]:
            found.append(
                Finding(
                    "corrupt-latent",
                    e["clip_id"],
                    p,
                    f"CRC-32 {crc} != recorded " f"{e['latent_crc32']}",
                    shard,
                    needs_verify=True,
                )
            )
    del mm
    return found


def _bad_audio(path: Path, p: str) -> dict[str, dict[str, Any]]:
    """The part's bad-audio records: clip id -> record (with its ``part``)."""
    bad = {}
    for _, line, complete in iter_lines(path / p / BAD_FILE):
        if complete and line.strip():
            b = json.loads(line)
            bad[str(b["clip_id"])] = {**b, "part": p}
    return bad


def _duplicates(live: dict[str, list[tuple[str, dict[str, Any]]]]) -> list[Finding]:
    """Clips with rows in several parts: a note when they hold the same audio, else a
    ``conflicting-duplicate`` problem."""
    found = []
    for cid, rows in live.items():
        shas = {e.get("source_sha256") for _, e in rows}
        if len(rows) > 1:
            kind = "duplicate" if len(shas) == 1 and None not in shas else "conflicting-duplicate"
            where = ", ".join(p for p, _ in rows)
            found.append(
                Finding(kind, cid, None, f"rows in {where}", part_shard(rows[-1][0]))
                if kind == "conflicting-duplicate"
                else Finding(kind, cid, None, f"rows of the same audio in {where}: one is used")
            )
    return found


def _check_dataset(
    report: VerifyReport,
    header: dict[str, Any],
    clips: pd.DataFrame,
    live: dict[str, list[tuple[str, dict[str, Any]]]],
    bad: dict[str, dict[str, Any]],
    full: bool,
) -> None:
    """Every clip of the dataset's subset is in the store (or recorded as bad audio) from
    unchanged audio; clips of the store outside it are noted as ``extra``."""
    found = report.findings
    max_clips = header.get("provenance", {}).get("features_config", {}).get("max_clips")
    sub = clips.iloc[: max_clips if max_clips is not None else len(clips)]
    report.n_expected = len(sub)
    n = _layout(report.parts)
    expected = set()
    for pos, (cid, audio) in enumerate(zip(sub["clip_id"].astype(str), sub["audio_path"])):
        expected.add(cid)
        if cid not in live:
            if cid in bad:
                found.append(Finding("bad-audio", cid, bad[cid]["part"], bad[cid]["reason"]))
            else:
                found.append(Finding("missing", cid, None, "not in the store", (pos % n, n)))
            continue
        p, e = live[cid][0]
        why = audio_changed(e, audio, full=full)
        if why:
            found.append(
                Finding(
                    "audio-changed",
                    cid,
                    p,
                    f"{why}: {audio}",
                    (pos % n, n),
                    needs_verify="hash" in why,
                )
            )
    for cid in sorted(set(live) - expected):
        found.append(
            Finding(
                "extra",
                cid,
                live[cid][0][0],
                "in the store, not in the dataset "
                "(removed audio, or another subset): kept, unused",
            )
        )
