"""Disentanglement beyond the proxy: DSCΔ (paper eqs. 6, 7) against the ground truth.

On the synthetic set the generator's sidecar (``truth.json``) gives every clip's true
sources and its effective channel (the sensor's parameters moved by the clip's drift).
For a trained multi-view run, linear models on the time-pooled z_p and z_s of the
held-out sensors' clips measure, by cross-validation over clips:

* channel information: mean R² of ridge regressions onto the standardised channel
  parameters (:data:`CHANNEL_PARAMS`);
* source information: mean balanced accuracy of ridge classifiers onto the true
  sources (one per class with enough positives and negatives to cross-validate);
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
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mvlib.core.cache import atomic_write_json
from mvlib.core.errors import MvlibError
from mvlib.data.dataset import dataset_root
from mvlib.data.labels import label_matrix
from mvlib.data.synth import truth as synth_truth
from mvlib.data.synth.plan import apply_drift
from mvlib.embed.stored import run_embeddings

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
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    y = (channels - channels.mean(0)) / (channels.std(0) + 1e-12)  # (N, P)
    keep = channels.std(0) > 1e-9
    pred = cross_val_predict(model, Z, y[:, keep], cv=KFold(folds, shuffle=True, random_state=seed))
    r2 = 1 - ((y[:, keep] - pred) ** 2).sum(0) / (y[:, keep] ** 2).sum(0)
    return float(np.mean(r2))


def source_information(Z: np.ndarray, sources: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean cross-validated balanced accuracy of linear classifiers on Z, one per class.

    Ridge classifiers (scikit-learn's ``RidgeClassifierCV``: least squares onto targets
    -1/+1, decision at 0) on standardised Z, every class's penalty chosen by efficient
    leave-one-out over the training fold, all classes in one closed-form fit per fold.
    Classes with fewer than ``folds`` positives (or negatives) are left out: they cannot be
    cross-validated.
    """
    sources = np.asarray(sources)
    pos = sources.sum(0)
    keep = np.minimum(pos, len(sources) - pos) >= folds  # (C,)
    if not keep.any():
        return float("nan")
    y = sources[:, keep]  # (N, C')
    model = make_pipeline(
        StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13), alpha_per_target=True)
    )
    cv = KFold(folds, shuffle=True, random_state=seed)
    score = cross_val_predict(model, Z, 2.0 * y - 1.0, cv=cv).reshape(len(y), -1)  # (N, C')
    pred = (score > 0).astype(int)
    return float(np.mean([balanced_accuracy_score(y[:, c], pred[:, c]) for c in range(y.shape[1])]))


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


#: per process: (truth tables, clip channels) of a synthetic set, keyed by its truth.json
_TRUTH: dict = {}


def _truth_of(root: Path) -> tuple[dict, pd.DataFrame]:
    """``truth.json`` of a set and its clips' effective channels, read once per process.

    Keyed by the file's path, size and modification time: a rewritten set is read again.
    """
    f = Path(root) / "truth.json"
    st = f.stat()
    key = (str(f.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _TRUTH:
        truth = synth_truth.load_truth(root)
        _TRUTH.clear()  # one set at a time: a sweep works on one dataset
        _TRUTH[key] = (truth, clip_channels(truth))
    return _TRUTH[key]


def run_truth(run_dir, progress: bool = False, run=None) -> dict:
    """Ground-truth scores of one multi-view run (cached in ``ground_truth.json``).

    ``run``: the run's :class:`mvlib.embed.stored.RunEmbeddings` when the caller already has them
    (the sweep's worker, right after probing), else they are computed here.
    """
    run_dir = Path(run_dir)
    cached = run_dir / GT_FILE
    if cached.exists():
        return json.loads(cached.read_text())
    run = run if run is not None else run_embeddings(run_dir, progress=progress)
    root = dataset_root(run.cfg)
    if not synth_truth.has_ground_truth(root):
        raise MvlibError(
            root,
            f"no ground truth for run {run_dir}: the data is not mvlib's synthetic set as "
            "the generator wrote it",
            "ground truth exists only for unchanged synthetic sets; use the DSCΔ proxy",
        )
    truth, channel_table = _truth_of(root)
    ids = run.clips["clip_id"]
    tclips = truth["clips"].set_index("audio_filename").loc[ids]
    sources = label_matrix(tclips, "source")  # (N, 8)
    channels = channel_table.loc[ids].to_numpy(np.float64)
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
    try:
        root = dataset_root(cfg)
    except MvlibError:
        return False
    return synth_truth.has_ground_truth(root)


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
