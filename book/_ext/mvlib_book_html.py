"""Sphinx extension of the mvlib book: a page that loads cleanly offline, without console errors.

- The pydata theme's page template reads ``default_mode``; jupyter-book leaves it empty, and
  the theme then logs "Got invalid theme mode" as a console error on every page: set ``auto``
  (follow the reader's system) unless the page context already chose one.
- sphinx-thebe adds its inline configuration script once per build *and* once per builder
  (Sphinx 7 registers a script added after the builder started on both), so every page
  declared ``const THEBE_JS_URL`` twice, an uncaught SyntaxError: identical script entries are
  dropped from each page's context.

``tests/browser_book.py`` opens every page in headless Chromium and fails on any console error.
"""

from __future__ import annotations


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # an inline script's filename is None or "" depending on who added it
        name = getattr(js, "filename", js) or ""
        key = (str(name), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
