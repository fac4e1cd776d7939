"""The built book, opened in a real headless Chromium with the network off.

Run by ``make browsertest`` (part of ``make test``) after it builds the book on the CI profile
into a fresh folder; not collected by the plain ``pytest tests`` (the file name does not start
with ``test_``), since it needs that build::

    MVLIB_BOOK_HTML=build/book-ci/_build/html python -m pytest -q -s tests/browser_book.py

For every page that ``book/_toc.yml`` lists (whatever chapters it holds), it checks that:

- no request leaves the machine (the browser context is offline and every non-file URL is
  recorded as a failure), and the console has no error and the page no uncaught exception;
- equations are typeset: MathJax ran, every ``.math`` element holds MathJax output
  (``mjx-container``), and no raw TeX command (``\\frac``, ``\\mathcal``…) is left in the
  page's text outside code;
- every ``<img>`` loaded (``naturalWidth > 0``), every ``<audio>`` player's source loads
  (metadata read, duration > 0, no media error);
- no table cell reads ``NaN``, and no cell output is an error traceback;
- at a 1400-pixel-wide window no table scrolls sideways: each rendered table's width (its
  ``scrollWidth``) is within its container's ``clientWidth``, and no table sticks out of the
  page's text column;
- every link to a local file (another page, a downloadable CSV table) finds its file;
- chapter 5's projection explorer draws points and redraws when the reader changes the run,
  the subspace and the colouring.

``test_the_checks_catch_a_broken_page`` shows that each check can fail. A missing Chromium or
Playwright fails with one line saying what to install: never a skip.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
HTML_ENV = "MVLIB_BOOK_HTML"
CHROMIUM_ENV = "MVLIB_CHROMIUM"
#: what the page's text must not contain once MathJax ran (outside code blocks)
RAW_TEX = r"\\(frac|tfrac|mathcal|mathrm|mathbb|mathbf|oplus|sum|log|exp|cos|Delta|tau|in)\b"
TIMEOUT_MS = 30_000
#: the window the pages are checked at (a desktop reader); tables must fit its text column
VIEWPORT = {"width": 1400, "height": 900}


def toc_pages(toc_path: Path = BOOK / "_toc.yml") -> list[str]:
    """The document names of every page in the table of contents, in reading order."""
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                pages.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


def _chromium() -> str:
    path = os.environ.get(CHROMIUM_ENV)
    for name in (path, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = name and shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no Chromium found: install it (Debian/Ubuntu: apt-get install -y chromium; `make test` "
        f"does so as root) or set ${CHROMIUM_ENV}=/path/to/chromium",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def html_root() -> Path:
    value = os.environ.get(HTML_ENV)
    if not value:
        pytest.fail(
            f"${HTML_ENV} is not set: build the book first (`make browsertest` builds it on the CI "
            "profile) and point it at the build's _build/html folder",
            pytrace=False,
        )
    root = Path(value).resolve()
    if not (root / "index.html").is_file():
        pytest.fail(f"{root}: no built book here (index.html missing)", pytrace=False)
    return root


@contextlib.contextmanager
def chromium_browser():
    """A headless system Chromium driven by Playwright (no browser download)."""
    try:
        from playwright.sync_api import sync_playwright  # optional dependency: playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing: pip install -r requirements.txt "
            "(playwright==1.65.2; the system Chromium is used, no browser download)",
            pytrace=False,
        )
    exe = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


class PageLog:
    """Console errors, uncaught exceptions and every request that is not a local file."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.network: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", self._failed)

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    def _failed(self, request) -> None:
        if request.url.startswith("file:"):
            self.errors.append(f"missing file: {request.url} ({request.failure})")


def _route(log: PageLog):
    def handler(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            log.network.append(url)
            route.abort("internetdisconnected")

    return handler


# --- checks run in the page ---------------------------------------------------------------

_MATH_JS = """async () => {
  const loaded = !!(window.MathJax && MathJax.startup);
  if (loaded) await MathJax.startup.promise;
  const maths = Array.from(document.querySelectorAll('.math'));
  const bad = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const body = document.querySelector('main') || document.body;
  const clone = body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  return {mathjax: loaded, n: maths.length, typeset: document.querySelectorAll('mjx-container').length,
          untypeset: bad, text: clone.textContent};
}"""

_MEDIA_JS = """async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); })));
  const badImg = imgs.filter(i => !(i.naturalWidth > 0)).map(i => (i.currentSrc || i.src).slice(0, 120));
  const audios = Array.from(document.querySelectorAll('audio'));
  const res = await Promise.all(audios.map(a => new Promise(r => {
    const done = () => r({ok: !a.error && a.duration > 0, err: a.error && a.error.message,
                          src: (a.currentSrc || '').slice(0, 60)});
    if (a.readyState >= 1) return done();
    a.addEventListener('loadedmetadata', done); a.addEventListener('error', done);
    a.preload = 'metadata'; a.load();
    setTimeout(done, 15000);
  })));
  const cells = Array.from(document.querySelectorAll('td, th'));
  const nan = cells.filter(c => /^\\s*[-+]?nan\\s*$/i.test(c.textContent)).map(c => {
    const row = c.closest('tr'); return row ? row.textContent.trim().slice(0, 100) : c.textContent; });
  const tracebacks = Array.from(document.querySelectorAll('.traceback, .output.error'))
    .map(e => e.textContent.trim().split('\\n').slice(-1)[0].slice(0, 160));
  return {tracebacks: tracebacks, images: imgs.length, badImages: badImg, audio: audios.length,
          badAudio: res.filter(x => !x.ok), cells: cells.length, nanCells: nan};
}"""


def _explorer(page) -> str:
    """Drive every explorer on the page; returns what was checked."""
    boxes = page.locator(".mvlib-explorer")
    n = boxes.count()
    for i in range(n):
        box = boxes.nth(i)
        runs = box.locator("select[name=run] option").all_inner_texts()
        subs = box.locator("select[name=subspace] option").all_inner_texts()
        cols = box.locator("select[name=colour] option").all_inner_texts()
        assert runs and subs and len(cols) >= 2, f"explorer {i}: empty controls {runs, subs, cols}"
        first = box.get_attribute("data-drawn")
        assert first, f"explorer {i}: nothing drawn on load"
        n_points = int(first.split("|")[-1])
        assert n_points > 0 and box.locator("svg circle").count() == n_points, first
        seen = {first}
        for sub in subs:
            for col in (cols[0], cols[-1]):
                box.locator("select[name=subspace]").select_option(sub)
                box.locator("select[name=colour]").select_option(col)
                state = box.get_attribute("data-drawn")
                assert state.split("|")[1:3] == [sub, col], f"explorer did not redraw: {state}"
                circles = box.locator("svg circle").count()
                assert circles == int(state.split("|")[-1]) > 0, state
                fills = set(
                    box.locator("svg circle").evaluate_all(
                        "c => c.map(e => e.getAttribute('fill'))"
                    )
                )
                if col != "sensor":
                    assert fills <= {"#d62728", "#c8c8c8"}, fills
                seen.add(state)
        box.locator("select[name=run]").select_option(runs[-1])
        assert box.get_attribute("data-drawn").startswith(runs[-1] + "|")
        xy = box.locator("svg circle").first.get_attribute("cx")
        assert xy is not None
    return f"explorer: {n} ({'driven' if n else 'none'})"


def pytest_generate_tests(metafunc):
    if "page_name" in metafunc.fixturenames:
        metafunc.parametrize("page_name", toc_pages())


def _broken_local_links(hrefs: list[str]) -> list[str]:
    """``file:`` links (pages, downloads such as CSV tables) whose target does not exist."""
    from urllib.parse import unquote, urlsplit

    missing = []
    for href in hrefs:
        url = urlsplit(href)
        if url.scheme == "file" and not Path(unquote(url.path)).exists():
            missing.append(href)
    return sorted(set(missing))


_TABLES_JS = """() => {
  const blockOf = (e) => {  // the nearest ancestor that is a box of its own (not a table part)
    let box = e.parentElement;
    while (box && /^(table|inline|contents)/.test(getComputedStyle(box).display)) box = box.parentElement;
    return box || document.body;
  };
  const column = document.querySelector('main article, article, main') || document.body;
  const right = column.getBoundingClientRect().right;
  return Array.from(document.querySelectorAll('table'))
    .filter(t => t.getClientRects().length > 0 && !t.closest('mjx-container'))  // rendered ones
    .map(t => {
      const box = blockOf(t), r = t.getBoundingClientRect();
      const row = t.querySelector('tr');
      const width = Math.max(t.scrollWidth, Math.ceil(r.width));
      return {width: width, avail: box.clientWidth, sticksOut: Math.round(r.right - right),
              cols: row ? Array.from(row.children).reduce((n, c) => n + (c.colSpan || 1), 0) : 0,
              head: (row ? Array.from(row.children).map(c => c.textContent.trim()).join(' | ')
                     : t.textContent).replace(/\\s+/g, ' ').slice(0, 60)};
    });
}"""


def wide_tables(tables: list[dict]) -> list[str]:
    """The tables of ``_TABLES_JS``'s answer that scroll sideways or stick out of the column."""
    return [
        f"{t['cols']} columns, {t['width']} px in {t['avail']} px: {t['head']}"
        for t in tables
        if t["width"] > t["avail"] + 1 or t["sticksOut"] > 1
    ]


def check_page(browser, path: Path) -> tuple[str, list[str], str]:
    """Open one page offline; returns (what was seen, problems found, explorer status)."""
    context = browser.new_context(offline=True, java_script_enabled=True, viewport=VIEWPORT)
    page = context.new_page()
    log = PageLog(page)
    context.route("**/*", _route(log))
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        math = page.evaluate(_MATH_JS)
        media = page.evaluate(_MEDIA_JS)
        tables = page.evaluate(_TABLES_JS)
        widget = _explorer(page)
        links = page.evaluate(
            "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )
        page.wait_for_timeout(200)  # late console errors
    finally:
        context.close()
    problems = []
    if log.network:
        problems.append(f"network requests: {sorted(set(log.network))[:5]}")
    problems += log.errors[:5]
    if math["n"] and not math["mathjax"]:
        problems.append(f"{math['n']} equations but MathJax did not load")
    if math["untypeset"]:
        problems.append(f"{len(math['untypeset'])} equations not typeset: {math['untypeset'][:3]}")
    raw = sorted(set(re.findall(RAW_TEX, math["text"])))
    if raw:
        snippet = re.search(RAW_TEX, math["text"])
        ctx = math["text"][max(0, snippet.start() - 40) : snippet.end() + 40]
        problems.append(f"raw TeX left in the text: {raw} e.g. {' '.join(ctx.split())!r}")
    if media["tracebacks"]:
        problems.append(f"cells failed when the book was built: {media['tracebacks'][:3]}")
    if media["badImages"]:
        problems.append(f"images not loaded: {media['badImages'][:3]}")
    if media["badAudio"]:
        problems.append(f"audio not loadable: {media['badAudio'][:3]}")
    if media["nanCells"]:
        problems.append(f"table cells read NaN in rows: {media['nanCells'][:3]}")
    wide = wide_tables(tables)
    if wide:
        problems.append(
            f"tables wider than their column at {VIEWPORT['width']} px ({len(wide)}): {wide[:3]}"
        )
    broken = _broken_local_links(links)
    if broken:
        problems.append(f"links to missing files: {broken[:3]}")
    sizes = ", ".join(f"{t['cols']}:{t['width']}/{t['avail']}" for t in tables)
    seen = (
        f"equations {math.get('n', 0)} typeset ({math.get('typeset', 0)} MathJax "
        f"nodes), images {media['images']}, audio players {media['audio']}, table cells "
        f"{media['cells']} (NaN: {len(media['nanCells'])}), tables {len(tables)} (columns:"
        f"px/px of the column at {VIEWPORT['width']} px: {sizes or '-'}; too wide {len(wide)}), "
        f"network requests {len(log.network)}, console errors {len(log.errors)}, local links "
        f"{sum(h.startswith('file:') for h in links)} (missing {len(broken)}), {widget}"
    )
    return seen, problems, widget


def check_book(html_root: Path, pages: list[str] | None = None) -> list[dict]:
    """Every check of every page of ``_toc.yml`` on a built book, outside pytest.

    ``benchmarks/book.py`` runs it on the build it times. Returns one dict per page: ``page``,
    ``seen`` (what was checked), ``problems`` (empty when the page passed).
    """
    out = []
    with chromium_browser() as b:
        for name in pages or toc_pages():
            path = Path(html_root) / f"{name}.html"
            if not path.is_file():
                out.append({"page": name, "seen": "", "problems": [f"{path}: not built"]})
                continue
            seen, problems, widget = check_page(b, path)
            if name.startswith("05") and "driven" not in widget:
                problems.append("chapter 5 has no working projection explorer")
            out.append({"page": name, "seen": seen, "problems": problems})
    return out


def test_page_renders_offline(browser, html_root, page_name):
    path = html_root / f"{page_name}.html"
    assert path.is_file(), f"{path}: page of _toc.yml entry {page_name!r} was not built"
    seen, problems, widget = check_page(browser, path)
    print(f"\n{page_name}: {seen}")
    if page_name.startswith("05"):
        assert "driven" in widget, "chapter 5 has no working projection explorer"
    assert not problems, f"{page_name}: " + "; ".join(problems)


BROKEN_PAGE = r"""<!DOCTYPE html><html><head>
<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script></head><body>
<main><p>Loss <span class="math">\(\mathcal{L} = \frac{1}{2}\)</span></p>
<img src="missing.png"><audio controls><source src="missing.wav" type="audio/wav"></audio>
<table><tr><th>score</th><td>NaN</td></tr></table><a href="results/table1.csv">CSV</a>
<div style="width:700px;overflow-x:auto"><table><tr>WIDE_ROW</tr></table></div>
<div class="output traceback">ZeroDivisionError: division by zero</div>
<script>console.error("boom")</script></main></body></html>""".replace(
    "WIDE_ROW", "".join(f"<th>configuration&nbsp;column&nbsp;{i}</th>" for i in range(14))
)  # a table of 14 columns that scrolls sideways in its 700-pixel column


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """The checks can fail: a page with every defect they look for is reported on each."""
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE)
    _, problems, _ = check_page(browser, page)
    text = "; ".join(problems)
    for expected in (
        "network requests: ['https://cdn.jsdelivr.net",
        "console: boom",
        "equations not typeset",
        "raw TeX left in the text: ['frac', 'mathcal']",
        "cells failed when the book was built",
        "images not loaded",
        "audio not loadable",
        "table cells read NaN",
        "tables wider than their column at 1400 px (1): ['14 columns, ",
        "links to missing files: ['file://",
    ):
        assert expected in text, f"not caught: {expected!r} in {text}"


def test_toc_pages_walks_parts_chapters_and_sections(tmp_path):
    """Pages in parts ("Using mvlib") and nested sections are checked like top-level ones."""
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: intro\nparts:\n"
        "  - caption: The book\n    chapters:\n      - file: 01_data_pairing\n"
        "      - file: method\n        sections:\n          - file: method/detail.md\n"
        "  - caption: Using mvlib\n    chapters:\n      - file: using/install\n"
        "      - file: extending\n"
    )
    assert toc_pages(toc) == [
        "intro",
        "01_data_pairing",
        "method",
        "method/detail",
        "using/install",
        "extending",
    ]
