"""Downstream probes on frozen features (paper 3.4): 2-layer MLP heads per feature set.

The package, by concept:

* :mod:`~mvlib.evaluate.probe.heads`: many small MLP heads trained at once as one batched
  module, with a hand-written backward pass and AdamW (its docstring says why);
* :mod:`~mvlib.evaluate.probe.fit`: fitting, selecting on validation and scoring once on
  test (``fit_probe``, ``fit_probes``, ``evaluate_probe``, ``probe_features``);
* :mod:`~mvlib.evaluate.probe.results`: a probed run's ``results.json`` and
  ``predictions.npz``;
* :mod:`~mvlib.evaluate.probe.runcheck`: refusing what is not a finished run of one config;
* :mod:`~mvlib.evaluate.probe.run`: probing a run folder or the frontend-only baseline.

Chapter 2's cross-validated linear probe of pooled features is
:mod:`mvlib.evaluate.crossval_probe` (its own module: it shares nothing with these heads).
The names below stay importable from ``mvlib.evaluate.probe``.
"""

from mvlib.evaluate.probe.fit import (
    PARTITIONS,
    PROBE_TASKS,
    FittedProbe,
    check_labels,
    evaluate_probe,
    fit_probe,
    fit_probes,
    fit_tasks,
    per_clip_outputs,
    prepare_heads,
    probe_features,
)
from mvlib.evaluate.probe.heads import MLPProbe
from mvlib.evaluate.probe.results import (
    MAIN_FEATURE,
    PREDICTIONS_FILE,
    UNDEFINED_NOTE,
    downstream_labels,
    load_predictions,
    summarise_results,
)
from mvlib.evaluate.probe.run import probe_frontend, probe_run
from mvlib.evaluate.probe.runcheck import (
    NotARunError,
    RunStateError,
    check_checkpoint_config,
    check_run,
)

__all__ = [
    "PROBE_TASKS",
    "PARTITIONS",
    "MAIN_FEATURE",
    "PREDICTIONS_FILE",
    "UNDEFINED_NOTE",
    "MLPProbe",
    "FittedProbe",
    "NotARunError",
    "RunStateError",
    "check_labels",
    "check_run",
    "check_checkpoint_config",
    "downstream_labels",
    "evaluate_probe",
    "fit_probe",
    "fit_probes",
    "fit_tasks",
    "load_predictions",
    "per_clip_outputs",
    "prepare_heads",
    "probe_features",
    "probe_frontend",
    "probe_run",
    "summarise_results",
]
