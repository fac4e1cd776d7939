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
- every link to a local file (another page, a downloadable CSV table) finds its file;
- chapter 5's projection explorer draws points and redraws when the reader changes the run,
  the subspace and the colouring.

``test_the_checks_catch_a_broken_page`` shows that each check can fail. A missing Chromium or
Playwright fails with one line saying what to install: never a skip.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
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
        yield b
        b.close()


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


def check_page(browser, path: Path) -> tuple[str, list[str], str]:
    """Open one page offline; returns (what was seen, problems found, explorer status)."""
    context = browser.new_context(offline=True, java_script_enabled=True)
    page = context.new_page()
    log = PageLog(page)
    context.route("**/*", _route(log))
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        math = page.evaluate(_MATH_JS)
        media = page.evaluate(_MEDIA_JS)
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
    broken = _broken_local_links(links)
    if broken:
        problems.append(f"links to missing files: {broken[:3]}")
    seen = (
        f"equations {math.get('n', 0)} typeset ({math.get('typeset', 0)} MathJax "
        f"nodes), images {media['images']}, audio players {media['audio']}, table cells "
        f"{media['cells']} (NaN: {len(media['nanCells'])}), network requests "
        f"{len(log.network)}, console errors {len(log.errors)}, local links "
        f"{sum(h.startswith('file:') for h in links)} (missing {len(broken)}), {widget}"
    )
    return seen, problems, widget


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
<div class="output traceback">ZeroDivisionError: division by zero</div>
<script>console.error("boom")</script></main></body></html>"""


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
        "links to missing files: ['file://",
    ):
        assert expected in text, f"not caught: {expected!r} in {text}"
