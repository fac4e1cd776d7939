"""Names from data stay inside their folder (issue 21): the rule, and through the CLI.

An ``audio_filename`` that is absolute or has a ``..`` component is refused with one line
naming the CSV file, its line and the value, before any audio is read; a symlink that the
user placed inside ``audio/`` (to a file or to a folder elsewhere) stays allowed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib.cli import main
from mvlib.core.errors import MvlibError
from mvlib.data.annotations import read_annotations
from mvlib.data.paths import UnsafeNameError, safe_member_name, unsafe_reason
from mvlib.frontend.store.reader import LatentStore

BAD_NAMES = ("../../outside.wav", "/etc/x.wav", "audio/../../x.wav")
CLIP = "00_000001.wav"  # a clip of write_foreign_sonyc (sensor 100, clip 1)


@pytest.mark.parametrize(
    "name, why",
    [
        ("../../outside.wav", "has a '..' component"),
        ("audio/../../x.wav", "has a '..' component"),
        ("a/..", "has a '..' component"),
        ("..\\x.wav", "has a '..' component"),
        ("/etc/x.wav", "is an absolute path"),
        ("C:\\x.wav", "is an absolute path"),
        ("\\\\host\\share\\x.wav", "is an absolute path"),
        ("", "is empty"),
        ("a\0.wav", "holds a NUL character"),
        ("00_000001.wav", None),
        ("linked/00_000001.wav", None),
        ("./a.wav", None),
        ("a..b.wav", None),
    ],
)
def test_unsafe_reason(name, why):
    assert unsafe_reason(name) == why


def test_safe_member_name_returns_the_name_or_one_line():
    assert safe_member_name("sub/a.wav", "x") == "sub/a.wav"
    with pytest.raises(UnsafeNameError) as e:
        safe_member_name("../a.wav", "ds/annotations.csv: line 7", "audio_filename")
    assert isinstance(e.value, MvlibError) and "\n" not in str(e.value)
    assert str(e.value).startswith("ds/annotations.csv: line 7: audio_filename '../a.wav'")


def _foreign(tmp_path):
    root = write_foreign_sonyc(
        tmp_path / "ds", n_sensors=2, clips_per_sensor=3, seed=1, sample_rates=(16000,)
    )
    assert (root / "audio" / CLIP).is_file()
    return root


def _rename_clip(root, new: str) -> int:
    """Give clip :data:`CLIP` the name ``new`` in every row; returns its first line (1-based)."""
    path = root / "annotations.csv"
    lines = path.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines, start=1) if f",{CLIP}," in line)
    path.write_text("".join(line.replace(f",{CLIP},", f",{new},") for line in lines))
    return first


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mvlib: error: "), err
    return lines[0]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_audio_filename_is_refused_by_labels_and_extract(bad, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    root = _foreign(tmp_path)
    (tmp_path / "outside.wav").write_bytes((root / "audio" / CLIP).read_bytes())  # a lure
    line = _rename_clip(root, bad)
    before = tree_digest(root)
    out = tmp_path / "labels.csv"

    assert main(["labels", str(root), "--out", str(out)]) == 2
    msg = _one_error_line(capsys.readouterr().err)
    assert f"{root / 'annotations.csv'}: line {line}, column 'audio_filename'" in msg
    assert repr(bad) in msg and not out.exists()

    common = ["--profile", "ci", "--set", f"data.root={root}", "-q"]
    assert main(["extract", *common]) == 2
    msg = _one_error_line(capsys.readouterr().err)
    assert f"line {line}, column 'audio_filename'" in msg and repr(bad) in msg
    latents = tmp_path / "cache" / "latents"
    assert not latents.exists() or not any(p.is_file() for p in latents.rglob("*"))
    assert tree_digest(root) == before

    with pytest.raises(UnsafeNameError):  # the library says the same
        read_annotations(root / "annotations.csv")


@pytest.mark.slow
def test_symlinks_inside_audio_are_allowed(tmp_path, monkeypatch, capsys):
    """A linked file and a linked folder of audio elsewhere: labels and extract read them."""
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    root = _foreign(tmp_path)
    elsewhere = tmp_path / "big-disk"
    (elsewhere / "folder").mkdir(parents=True)
    # a linked file: audio/CLIP -> big-disk/CLIP
    shutil.move(root / "audio" / CLIP, elsewhere / CLIP)
    (root / "audio" / CLIP).symlink_to(elsewhere / CLIP)
    # a linked folder: audio/linked -> big-disk/folder, holding another clip
    other = "01_000002.wav"
    shutil.move(root / "audio" / other, elsewhere / "folder" / other)
    (root / "audio" / "linked").symlink_to(elsewhere / "folder", target_is_directory=True)
    text = (root / "annotations.csv").read_text()
    (root / "annotations.csv").write_text(text.replace(f",{other},", f",linked/{other},"))
    before = _digest_with_links(root), tree_digest(elsewhere)

    out = tmp_path / "labels.csv"
    assert main(["labels", str(root), "--out", str(out)]) == 0
    table = out.read_text()
    assert f"\n{CLIP}," in table and f"\nlinked/{other}," in table

    assert main(["extract", "--profile", "ci", "--set", f"data.root={root}", "-q"]) == 0
    capsys.readouterr()
    stores = [p.parent for p in (tmp_path / "cache" / "latents").rglob("store.json")]
    assert len(stores) == 1, stores
    store = LatentStore(stores[0])
    assert CLIP in store and f"linked/{other}" in store
    assert (_digest_with_links(root), tree_digest(elsewhere)) == before


def _digest_with_links(root) -> dict[str, str]:
    """Every entry under ``root``, not following links: a file's bytes, a link's target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
