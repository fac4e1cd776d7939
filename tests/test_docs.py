"""The cover page and the citable artifact: README, book/intro.md, LICENSE, CITATION.cff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from browser_book import toc_pages

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results" / "book-default.json"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_readme_is_a_cover_page_with_the_paper():
    assert len(README.splitlines()) <= 120
    assert "https://arxiv.org/abs/2510.02500" in README
    for heading in ("What it is for", "One result (synthetic data)", "Set-up: two commands"):
        assert f"## {heading}" in README
    setup = _section(README, "Set-up: two commands")
    assert "make book" in setup and "make test" in setup


def test_readme_figures_come_from_the_results_file_it_names():
    """Every figure in the result and set-up sections is in book-default.json (or is the
    Python version pyproject requires): none is typed in from elsewhere."""
    record = json.loads(RESULTS.read_text())
    mdd = record["tables"]["table1"]["mdd"]
    allowed = {
        f"{record['wall_s']}",
        f"{record['wall_s'] / 60:.1f}",
        f"{mdd['source']}",
        f"{mdd['sensor']}",
        re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())[1],
    }
    text = _section(README, "One result (synthetic data)") + _section(
        README, "Set-up: two commands"
    )
    assert "benchmarks/results/book-default.json" in text
    assert record["design"] in text.replace("\n", " ")
    figures = set(re.findall(r"\d+\.\d+", text))
    assert figures and figures <= allowed, figures - allowed


def test_intro_lists_every_page_of_the_book():
    intro = (ROOT / "book" / "intro.md").read_text()
    missing = [p for p in toc_pages() if p != "intro" and f"{{doc}}`{p}`" not in intro]
    assert missing == []


def test_every_page_the_readme_names_exists():
    for path in re.findall(r"`((?:book|benchmarks)/[\w/.-]+\.(?:md|json))`", README):
        assert (ROOT / path).is_file(), path


def test_licence_and_citation_match_the_package():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert "mvlib contributors" in (ROOT / "LICENSE").read_text()
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"] in README
    assert [a["family-names"] for a in paper["authors"]] == ["Ding", "Wilkins", "Fuentes", "Bello"]
    assert paper["url"] == "https://arxiv.org/abs/2510.02500"
