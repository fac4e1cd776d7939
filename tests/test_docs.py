"""The cover page and the citable artifact: README, book/intro.md, LICENSE, CITATION.cff;
and no figure typed into the prose of the book or the README."""

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


def _results_figures() -> set[str]:
    """The figures the README may state: book-default.json's, and the Python pyproject needs."""
    record = json.loads(RESULTS.read_text())
    mdds = []
    for v in record["tables"]["table1"]["mdd"].values():  # per-row median and range
        mdds += [f"{v[k]:.3f}" for k in ("median", "min", "max")]
    return {
        f"{record['wall_s']}",
        f"{record['wall_s'] / 60:.1f}",
        *mdds,
        re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())[1],
    }


def test_readme_figures_come_from_the_results_file_it_names():
    """Every figure in the result and set-up sections is in book-default.json (or is the
    Python version pyproject requires): none is typed in from elsewhere."""
    record = json.loads(RESULTS.read_text())
    allowed = _results_figures()
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


#: what a stated measurement looks like: a decimal, a percentage, a duration, a size, a speed-up
FIGURE = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(%|×|x\b|s\b|sec|min|h\b|hours?|ms\b|[KMG]i?B\b|kbps|kHz)"
    r"|(?<![\w.,])(\d*\.\d+)(?![\w.])"
)
#: figures of the prose that are not measurements of a build: (where, context, why)
NOT_MEASURED = [
    ("", r"(?:paper|sections?)\s+\(?\d\.\d(?:,\s*\d\.\d)*\)?", "a section of the paper"),
    ("", r"44\.1 kHz(?:, | / )8 kbps|44\.1 kHz", "the DAC codec's rate and bit rate (paper 3.2)"),
    ("", r"\b10[ -]s\b", "SONYC-UST-V2's clip length (the paper's data)"),
    ("", r"95% (?:CIs?|intervals?|confidence|holds)", "the nominal level of an interval"),
    ("", r"80% power", "the design power of an MDD"),
    ("", r"p < 0\.05", "the significance level α"),
    ("", r"chance 0\.5", "chance of a balanced accuracy (a definition)"),
    ("", r"arXiv:? ?2510\.02500", "the paper's arXiv id"),
    ("", r"Python (?:< |>= )?3\.\d+", "a Python version"),
    ("book/using/store.md", r"1×, 10× and 100×", "the store sizes the benchmark runs at"),
    ("book/scaling.ipynb", r"2\.1 per clip, as the paper's", "the paper's pairs per clip"),
    ("book/06_label_efficiency.ipynb", r"\b(?:5|20|100)%", "the chapter's `fractions` parameter"),
]


def _prose() -> list[tuple[str, str]]:
    """(where, text) of the prose: markdown cells of the chapters, the book's pages, README;
    code, inline code, maths and link targets removed (code computes what it prints)."""
    pages = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        pages += [
            (f"{nb.relative_to(ROOT)} cell {i}", "".join(c["source"]))
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown"
        ]
    for md in [*sorted((ROOT / "book").glob("**/*.md")), ROOT / "README.md"]:
        if "_build" not in md.parts:
            pages.append((str(md.relative_to(ROOT)), md.read_text()))
    out = []
    for where, text in pages:
        for pattern in (r"```.*?```", r"`[^`\n]*`", r"\$\$.*?\$\$", r"\$[^$\n]*\$", r"\]\([^)]*\)"):
            text = re.sub(pattern, " ", text, flags=re.S)
        out.append((where, text))
    return out


def typed_figures() -> list[dict]:
    """Every figure the prose states, each with why it may stand (``why`` None: it may not)."""
    readme = _results_figures()
    found = []
    for where, text in _prose():
        for n, line in enumerate(text.splitlines(), 1):
            for m in FIGURE.finditer(line):
                why = None
                for page, context, reason in NOT_MEASURED:
                    if (
                        why is None
                        and where.startswith(page)
                        and any(
                            c.start() <= m.start() and m.end() <= c.end() + 1
                            for c in re.finditer(context, line)
                        )
                    ):
                        why = reason
                if why is None and where == "README.md" and (m[1] or m[3]) in readme:
                    why = "read from benchmarks/results/book-default.json (checked above)"
                found.append({"where": f"{where}:{n}", "figure": m[0].strip(), "why": why})
    return found


def test_no_figure_in_the_prose_is_typed_in():
    """Issue 22: every figure the book's prose or the README states is computed (by a code
    cell, or read from a results file), or is not a measurement (a setting, a section)."""
    found = typed_figures()
    assert len(found) > 20  # the scan sees the prose (sections, levels, the README's figures)
    typed = [f"{f['where']}: {f['figure']}" for f in found if f["why"] is None]
    assert typed == []
    # the fractions the label-efficiency prose names are the chapter's parameter
    nb = json.loads((ROOT / "book" / "06_label_efficiency.ipynb").read_text())
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert "fractions = [0.05, 0.2, 1.0]" in "".join(params["source"])
