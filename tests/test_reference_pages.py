"""The book's reference pages (book/reference), method.md and chapter 3 name objects that exist.

Sphinx only warns when an ``automodule`` cannot import its module or a ``{py:func}`` role
finds no target, so a renamed module or function would leave a page silently short: these
tests name the page and the name to update.
"""

import importlib
import re
from pathlib import Path

import pytest

import mvlib

BOOK = Path(__file__).resolve().parents[1] / "book"
PAGES = sorted((BOOK / "reference").glob("*.md"))
ROLE = re.compile(r"\{py:(?:func|class|meth|mod|data|exc|attr)\}`~?([\w.]+)`")


def _resolve(name: str):
    """The object a dotted name refers to: the longest importable module, then attributes."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def test_every_reference_page_is_in_the_toc():
    toc = (BOOK / "_toc.yml").read_text()
    assert PAGES, "no reference pages"
    for page in PAGES:
        assert f"file: reference/{page.stem}\n" in toc, f"{page} is not in book/_toc.yml"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_module_a_reference_page_documents_imports(page):
    text = page.read_text()
    names = re.findall(r"^\.\. automodule:: (\S+)", text, re.M)
    names += re.findall(r"^   (mvlib\.[\w.]+)$", text, re.M)  # autosummary entries
    for name in names:
        importlib.import_module(name)  # a renamed module: update this page


def test_the_api_page_lists_the_public_api():
    text = (BOOK / "reference" / "api.md").read_text()
    table = text.split(".. autosummary::")[1].split("\n\n", 2)[1]
    listed = [line.strip().split(".")[-1] for line in table.splitlines() if line.strip()]
    assert listed == [n for n in mvlib.__all__ if n != "__version__"]


@pytest.mark.parametrize(
    "page", [BOOK / "method.md", BOOK / "03_train.ipynb", *PAGES], ids=lambda p: p.stem
)
def test_every_object_a_page_links_exists(page):
    for name in ROLE.findall(page.read_text()):
        _resolve(name)  # a renamed function: update the link on this page
