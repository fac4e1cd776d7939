"""Reporting: the book's tables, figures, generated prose and the embedding explorer.

One concept per module:

- ``results``: the results frame (one row per probed run) and per-clip scores;
- ``comparison``: paired comparison tables (main, secondary, CSV data) with per-row MDDs;
- ``tables``: Tables 1 and 2 of the paper (their rows and references);
- ``reference``: the paper's own numbers;
- ``claims``: the paper's claims and their verdicts here;
- ``figure2``: Figure 2's numbers; ``plots``: figures (forest plots, Figure 2, ...);
- ``formatting``: result frames formatted like the tables;
- ``export``: CSV files in the cache and download links carried by the page;
- ``measured``: results files of measured book builds; ``prose``: the chapters' sentences
  with numbers, generated from results;
- ``frontend_probe``: chapter 2's comparison of frontends;
- ``explorer``, ``widgets``: the projection explorer (static HTML, live ipywidgets).
"""
