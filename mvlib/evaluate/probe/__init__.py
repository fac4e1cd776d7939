"""Probes on frozen features: 2-layer MLP heads per feature set (paper 3.4), linear CV probes.

The package, by concept:

* :mod:`~mvlib.evaluate.probe.heads`: many small MLP heads trained at once as one batched
  module, with a hand-written backward pass and AdamW (its docstring says why);
* :mod:`~mvlib.evaluate.probe.fit`: fitting, selecting on validation and scoring once on
  test (``fit_probe``, ``fit_probes``, ``evaluate_probe``, ``probe_features``);
* :mod:`~mvlib.evaluate.probe.results`: a probed run's ``results.json`` and
  ``predictions.npz``;
* :mod:`~mvlib.evaluate.probe.runcheck`: refusing what is not a finished run of one config;
* :mod:`~mvlib.evaluate.probe.run`: probing a run folder (``probe_trained_run``) or the
  frontend-only baseline (``probe_frontend``);
* :mod:`~mvlib.evaluate.probe.linear_cv`: chapter 2's cross-validated linear probe of pooled
  features (scikit-learn logistic regression; it shares nothing with the heads above).

Import each name from its module, e.g. ``from mvlib.evaluate.probe.fit import fit_probes``.
"""
