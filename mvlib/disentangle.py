"""Disentanglement beyond the proxy: DSCΔ (paper eqs. 6, 7) against the ground truth.

On the synthetic set the generator's sidecar (``truth.json``) gives every clip's true
sources and its effective channel (the sensor's parameters moved by the clip's drift).
For a trained multi-view run, linear models on the time-pooled z_p and z_s of the
held-out sensors' clips measure, by cross-validation over clips:

* channel information: mean R² of ridge regressions onto the standardised channel
  parameters (:data:`CHANNEL_PARAMS`);
* source information: mean balanced accuracy of logistic regressions onto the true
  sources (one per class present in both values);
* invariance: the share of a subspace's variance that lies *between* sensors (1: the
  subspace is constant within a sensor, 0: it ignores the sensor).

The ground-truth directional scores mirror eqs. 6 and 7: ``gt_priv`` = source information
in z_p − in z_s, ``gt_shared`` = channel information in z_s − in z_p. Spearman's rank
correlation over configurations tells whether DSCΔ orders them as the truth does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.cache import atomic_write_json
from mvlib.errors import MvlibError

#: effective channel parameters of a clip predicted from its latents (log-scaled where noted)
CHANNEL_PARAMS = (
    "eq0_gain_db",
    "eq1_gain_db",
    "eq2_gain_db",
    "eq3_gain_db",
    "log_lowcut_hz",
    "shelf_gain_db",
    "log_rt60_s",
    "drr_db",
    "noise_tilt_db_oct",
    "rumble_db",
    "hum_db",
)
GT_FILE = "ground_truth.json"
STRATEGY_COLOURS = {"rec": "tab:green", "cos": "tab:orange", "mask": "tab:blue"}


def clip_channels(truth: dict) -> pd.DataFrame:
    """Effective channel parameters of every clip, indexed by audio file name (the clip id)."""
    from mvlib.synth import apply_drift

    sensors = truth["sensors"].set_index("sensor_id")
    rows = {}
    for c in truth["clips"].itertuples(index=False):
        d = c._asdict()
        p = apply_drift(sensors.loc[d["sensor_id"]].to_dict(), d)
        p["log_lowcut_hz"] = np.log(p["lowcut_hz"])
        p["log_rt60_s"] = np.log(p["rt60_s"])
        rows[d["audio_filename"]] = [p[k] for k in CHANNEL_PARAMS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(CHANNEL_PARAMS))


def channel_information(
    Z: np.ndarray, channels: np.ndarray, folds: int = 5, seed: int = 0
) -> float:
    """Mean cross-validated R² of ridge regressions Z ndarray[N x k] → each channel column."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    y = (channels - channels.mean(0)) / (channels.std(0) + 1e-12)  # (N, P)
    keep = channels.std(0) > 1e-9
    pred = cross_val_predict(model, Z, y[:, keep], cv=KFold(folds, shuffle=True, random_state=seed))
    r2 = 1 - ((y[:, keep] - pred) ** 2).sum(0) / (y[:, keep] ** 2).sum(0)
    return float(np.mean(r2))


def source_information(Z: np.ndarray, sources: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean cross-validated balanced accuracy of per-class logistic regressions on Z."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = []
    for c in range(sources.shape[1]):
        y = sources[:, c]
        if min(y.sum(), len(y) - y.sum()) < folds:
            continue  # too few positives (or negatives) to cross-validate this class
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        scores.append(balanced_accuracy_score(y, cross_val_predict(model, Z, y, cv=cv)))
    return float(np.mean(scores)) if scores else float("nan")


def between_sensor_share(Z: np.ndarray, sensors: np.ndarray) -> float:
    """Share of Z's total variance explained by the sensor (mean over dimensions)."""
    Z = Z - Z.mean(0)
    total = (Z**2).sum(0)
    between = np.zeros(Z.shape[1])
    for s in np.unique(sensors):
        m = sensors == s
        between += m.sum() * Z[m].mean(0) ** 2
    ok = total > 1e-12
    return float(np.mean(between[ok] / total[ok]))


def subspace_truth(z_p, z_s, sources, channels, sensors, seed: int = 0) -> dict:
    """Ground-truth information of each subspace and the directional scores."""
    out = {}
    for name, Z in (("z_p", z_p), ("z_s", z_s)):
        out[f"source_info_{name}"] = source_information(Z, sources, seed=seed)
        out[f"channel_r2_{name}"] = channel_information(Z, channels, seed=seed)
        out[f"between_sensor_{name}"] = between_sensor_share(Z, sensors)
    out["gt_priv"] = out["source_info_z_p"] - out["source_info_z_s"]
    out["gt_shared"] = out["channel_r2_z_s"] - out["channel_r2_z_p"]
    return out


def run_truth(run_dir, progress: bool = False) -> dict:
    """Ground-truth scores of one multi-view run (cached in ``ground_truth.json``)."""
    from mvlib import synth, workflow
    from mvlib.embed import run_embeddings
    from mvlib.taxonomy import coarse_label_columns

    run_dir = Path(run_dir)
    cached = run_dir / GT_FILE
    if cached.exists():
        return json.loads(cached.read_text())
    run = run_embeddings(run_dir, progress=progress)
    root = workflow.dataset_root(run.cfg)
    if not synth.has_ground_truth(root):
        raise MvlibError(
            root,
            f"no ground truth for run {run_dir}: the data is not mvlib's synthetic set as "
            "the generator wrote it",
            "ground truth exists only for unchanged synthetic sets; use the DSCΔ proxy",
        )
    truth = synth.load_truth(root)
    ids = run.clips["clip_id"]
    tclips = truth["clips"].set_index("audio_filename").loc[ids]
    sources = tclips[list(coarse_label_columns())].to_numpy(np.int64)
    channels = clip_channels(truth).loc[ids].to_numpy(np.float64)
    emb = run.embeddings
    out = subspace_truth(
        emb["z_p"],
        emb["z_s"],
        sources,
        channels,
        run.clips["sensor_id"].to_numpy(),
        seed=run.cfg.train.seed,
    )
    atomic_write_json(cached, out)
    return out


def has_ground_truth(cfg) -> bool:
    """Whether the config's data is mvlib's synthetic set, unchanged: true factors are known."""
    from mvlib import synth, workflow

    try:
        root = workflow.dataset_root(cfg)
    except MvlibError:
        return False
    return synth.has_ground_truth(root)


def ground_truth_table(cfg, results: pd.DataFrame) -> pd.DataFrame:
    """Per multi-view configuration (mean over seeds): DSCΔ beside the ground truth."""
    mv = results[results["method"] == "multiview"].copy()
    gt = pd.DataFrame([run_truth(r) for r in mv["run_dir"]], index=mv.index)
    both = pd.concat([mv, gt], axis=1)
    cols = [
        "dsc_priv",
        "gt_priv",
        "dsc_shared",
        "gt_shared",
        "source_info_z_p",
        "source_info_z_s",
        "channel_r2_z_p",
        "channel_r2_z_s",
        "between_sensor_z_p",
        "between_sensor_z_s",
    ]
    table = both.groupby("config")[cols].mean()
    table.insert(0, "group", both.groupby("config")["group"].first())
    table.insert(1, "seeds", both.groupby("config").size())
    return table


def rank_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation over configurations between DSCΔ and its ground truth."""
    from scipy.stats import spearmanr

    rows = []
    for proxy, truth in (("dsc_priv", "gt_priv"), ("dsc_shared", "gt_shared")):
        if len(table) >= 3:
            rho, p = spearmanr(table[proxy], table[truth])
        else:
            rho, p = float("nan"), float("nan")
        rows.append(
            {
                "proxy": proxy,
                "ground truth": truth,
                "configurations": len(table),
                "spearman rho": rho,
                "p": p,
            }
        )
    return pd.DataFrame(rows).set_index("proxy")


def reading(agreement: pd.DataFrame) -> str:
    """A plain-language reading of :func:`rank_agreement`."""
    lines = []
    for proxy, r in agreement.iterrows():
        rho, p, n = r["spearman rho"], r["p"], r["configurations"]
        if not np.isfinite(rho):
            lines.append(f"* {proxy}: too few configurations ({n}) for a rank correlation.")
            continue
        verdict = (
            "orders configurations much as the ground truth does"
            if rho >= 0.6 and p < 0.1
            else (
                "agrees only loosely with the ground truth"
                if rho > 0.2
                else "does not order configurations as the ground truth does"
            )
        )
        lines.append(
            f"* **{proxy}** vs {r['ground truth']}: Spearman ρ = {rho:+.2f} "
            f"(p = {p:.2f}, {n} configurations): the proxy {verdict}."
        )
    return "\n".join(lines)


def plot_figure2(results: pd.DataFrame):
    """Paper Figure 2: overall score vs DSCΔ per task, by strategy, frontend-only line."""
    import matplotlib.pyplot as plt

    from mvlib.metrics import mean_ci

    mv = results[results["method"] == "multiview"]
    base = results[results["config"] == "frontend only"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        ("source", "source_jaccard", "dsc_priv", "DSCΔ priv (source)"),
        ("sensor", "sensor_accuracy", "dsc_shared", "DSCΔ shared (sensor)"),
    )
    for ax, (task, x, y, ylabel) in zip(axes, panels, strict=True):
        for config, g in mv.groupby("config"):
            (mx, hx), (my, hy) = mean_ci(g[x]), mean_ci(g[y])
            group = g["group"].iloc[0]
            ax.errorbar(
                mx,
                my,
                xerr=np.nan_to_num(hx),
                yerr=np.nan_to_num(hy),
                fmt="o",
                color=STRATEGY_COLOURS.get(group, "grey"),
                capsize=2,
            )
            ax.annotate(
                config.replace("rec + ", ""),
                (mx, my),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        if len(base):
            ax.axvline(base[x].mean(), color="red", ls=":", label="frontend only")
        ax.axhline(0, color="grey", lw=0.5)
        for group, colour in STRATEGY_COLOURS.items():
            ax.scatter(
                [],
                [],
                color=colour,
                label={"rec": "L_rec", "cos": "+ L_cos", "mask": "+ mask z_p"}[group],
            )
        ax.set_xlabel(
            f"overall {task} ({'Jaccard' if task == 'source' else 'accuracy'}, z_p ⊕ z_s)"
        )
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


class ProjectionExplorer:
    """PCA projections of z_p / z_s per run, with ipywidgets to switch run, subspace, colour."""

    def __init__(self, cfg, results: pd.DataFrame):
        mv = results[results["method"].isin(["multiview", "singleview"])]
        self.runs = {f"{r.config} · seed {r.seed}": r.run_dir for r in mv.itertuples()}
        self.cfg = cfg
        self._cache: dict = {}

    def _data(self, run_dir):
        if run_dir not in self._cache:
            from mvlib.embed import run_embeddings

            run = run_embeddings(run_dir)
            self._cache[run_dir] = (run.embeddings, run.clips)
        return self._cache[run_dir]

    def figure(self, run: str, subspace: str = "z_s", colour: str = "sensor"):
        """One projection: ``colour`` is "sensor" or a coarse label column."""
        import matplotlib.pyplot as plt
        from sklearn.decomposition import PCA

        emb, used = self._data(self.runs[run])
        xy = PCA(2, random_state=0).fit_transform(emb[subspace])  # (N, 2)
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        if colour == "sensor":
            codes = pd.factorize(used["sensor_id"])[0]
            ax.scatter(xy[:, 0], xy[:, 1], c=codes, cmap="tab20", s=12)
        else:
            on = used[colour].to_numpy() == 1
            ax.scatter(xy[~on, 0], xy[~on, 1], c="lightgrey", s=10, label="absent")
            ax.scatter(xy[on, 0], xy[on, 1], c="tab:red", s=12, label="present")
            ax.legend(fontsize=8)
        ax.set_title(f"{run}\n{subspace} coloured by {colour}", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        fig.tight_layout()
        return fig

    def show(self) -> None:
        """Widgets plus the default figure (static in a built page)."""
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display

        from mvlib.taxonomy import coarse_label_columns

        if not self.runs:
            print("no multi-view runs to project")
            return
        run = w.Dropdown(options=list(self.runs), description="run")
        sub = w.ToggleButtons(options=["z_s", "z_p"], description="subspace")
        col = w.Dropdown(options=["sensor", *coarse_label_columns()], description="colour")
        out = w.Output()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                self.figure(run.value, sub.value, col.value)
                plt.show()

        for c in (run, sub, col):
            c.observe(redraw, names="value")
        display(w.HBox([run, sub, col]), out)
        # the default view is drawn as ordinary output (a built page has no kernel to redraw);
        # the Output widget is only written to on interaction: headless executors (nbclient)
        # can hang on an Output widget cleared during execution
        self.figure(run.value, sub.value, col.value)
        plt.show()
