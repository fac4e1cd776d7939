"""Figures and the provenance banner used by the book's chapters.

Every function returns a matplotlib Figure (or a string) and computes nothing the
library does not already compute elsewhere; chapters only call these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.data.labels import label_matrix
from mvlib.data.synth.folder import GENERATION_MARKER
from mvlib.data.taxonomy import coarse_names

PAPER_NOTE = (
    "The paper's numbers come from real SONYC-UST-V2 audio and pretrained DAC 44.1 kHz "
    "8 kbps latents; figures produced here are labelled with the data, frontend and weights "
    "that made them."
)


def is_synthetic(cfg) -> bool:
    """Whether the config's data is mvlib's synthetic set (its folder decides, not data.source)."""
    if not cfg.data.root:
        return cfg.data.source == "synth"
    return (Path(cfg.data.root).expanduser() / GENERATION_MARKER).is_file()


def describe_data(cfg) -> str:
    """The data in words: the folder it is in, and whether it is our synthetic set."""
    s = cfg.synth
    synthetic = (
        f"synthetic SONYC-format set ({s.n_sensors} sensors × {s.clips_per_sensor} clips × "
        f"{s.duration_s:g} s, seed {s.seed})"
    )
    if not cfg.data.root:
        return synthetic if cfg.data.source == "synth" else "SONYC-UST-V2 (data.root not set)"
    if is_synthetic(cfg):
        return f"mvlib's synthetic SONYC-format set at {cfg.data.root}"
    return f"SONYC-format dataset at {cfg.data.root}"


def provenance_lines(cfg, identity: dict | None = None) -> list[str]:
    """What made the results on a page: data, frontend, weights."""
    data = describe_data(cfg)
    lines = [f"**profile** `{cfg.profile}`", f"**data** {data}"]
    fe = identity or {}
    frontend = fe.get("frontend", cfg.features.frontend)
    lines.append(f"**frontend** `{frontend}`")
    weights = fe.get("weights")
    if frontend == "dac" or weights:
        lines.append(
            f"**weights** `{weights or 'not loaded yet'}` (hash `{fe.get('weights_sha256', '?')}`)"
        )
    return lines


def banner(cfg, identity: dict | None = None) -> str:
    """Markdown banner for a chapter; loud when the DAC weights are random."""
    lines = provenance_lines(cfg, identity)
    weights = str((identity or {}).get("weights", ""))
    warn = ""
    if "random" in weights:
        warn = (
            "\n\n> **Random DAC weights.** No pretrained DAC weights were found, so the DAC "
            "encoder runs with seeded random weights: this proves the DAC path end to end, "
            "but its features carry almost no information. See the README to install real weights."
        )
    if is_synthetic(cfg):
        warn += (
            "\n\n> **Synthetic data.** These results come from mvlib's synthetic urban sensor "
            "network, not from SONYC-UST-V2; they are not comparable number-for-number with the paper."
        )
    return "> " + " · ".join(lines) + warn


def label_statistics(clips: pd.DataFrame) -> pd.DataFrame:
    """Per-class positive rate and count, plus the distribution of sources per clip."""
    y = label_matrix(clips)  # (N, 8)
    return pd.DataFrame(
        {"class": coarse_names(), "clips": y.sum(0), "rate": y.mean(0).round(3)}
    ).set_index("class")


def plot_label_statistics(clips: pd.DataFrame):
    """Bar plots: clips per coarse class, and number of sources per clip."""
    import matplotlib.pyplot as plt

    y = label_matrix(clips)  # (N, 8)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.2))
    a.bar(coarse_names(), y.sum(0), color="tab:blue")
    a.set_ylabel("clips")
    a.set_title("clips per coarse class")
    a.tick_params(axis="x", rotation=45)
    k = y.sum(1)
    b.hist(k, bins=np.arange(k.max() + 2) - 0.5, rwidth=0.8, color="tab:orange")
    b.set_xlabel("sources per clip")
    b.set_title("polyphony")
    fig.tight_layout()
    return fig


def plot_spectrogram(ax, wave: np.ndarray, sr: int, title: str = "") -> None:
    """Log-power spectrogram of a mono signal on ``ax`` (for looking, not for features)."""
    ax.specgram(wave, NFFT=1024, Fs=sr, noverlap=768, cmap="magma", scale="dB")
    ax.set_ylabel("Hz")
    ax.set_xlabel("s")
    ax.set_title(title, fontsize=9)


def plot_pair(waves: list[np.ndarray], sr: int, titles: list[str]):
    """Spectrograms of the two views of a pair, side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(waves), figsize=(5.5 * len(waves), 2.8), sharey=True)
    for ax, w, t in zip(np.atleast_1d(axes), waves, titles, strict=True):
        plot_spectrogram(ax, w, sr, t)
    fig.tight_layout()
    return fig


def plot_latent(latent: np.ndarray, wave: np.ndarray, sr: int, title: str = ""):
    """A clip's spectrogram above its feature matrix ``ndarray[T x D]`` (time aligned)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=False)
    plot_spectrogram(a, wave, sr, f"{title} — spectrogram")
    im = b.imshow(
        latent.T.astype(np.float32),
        aspect="auto",
        origin="lower",
        cmap="coolwarm",
        interpolation="nearest",
    )
    b.set_xlabel("frame")
    b.set_ylabel("dimension")
    b.set_title(f"features {latent.shape[0]} frames × {latent.shape[1]} dims", fontsize=9)
    fig.colorbar(im, ax=b, fraction=0.03)
    fig.tight_layout()
    return fig


def plot_dimension_stats(mean: np.ndarray, std: np.ndarray, title: str = ""):
    """Per-dimension mean ± std of features across frames and clips."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2.8))
    d = np.arange(len(mean))
    ax.fill_between(d, mean - std, mean + std, alpha=0.3, label="± std")
    ax.plot(d, mean, lw=0.8, label="mean")
    ax.set_xlabel("dimension")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_losses(history: pd.DataFrame, title: str = ""):
    """Train/val loss terms per epoch from a run's ``losses.csv``."""
    import matplotlib.pyplot as plt

    terms = [
        c
        for c in ("total", "rec", "cos", "nce", "sup")
        if c in history and history[c].notna().any()
    ]
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 2.8), squeeze=False)
    for ax, term in zip(axes[0], terms, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            h = history[history["split"] == split]
            ax.plot(h["epoch"], h[term], style, label=split)
        ax.set_title(f"{term} loss", fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_reconstruction(x: np.ndarray, x_hat: np.ndarray, title: str = ""):
    """An input feature matrix ``ndarray[T x D]`` beside its reconstruction and error."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
    lo, hi = np.percentile(x, [1, 99])
    for ax, m, t in zip(
        axes, (x, x_hat, x - x_hat), ("input", "reconstruction", "error"), strict=True
    ):
        kw = dict(vmin=lo, vmax=hi) if t != "error" else {}
        im = ax.imshow(
            m.T, aspect="auto", origin="lower", cmap="coolwarm", interpolation="nearest", **kw
        )
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("frame")
        fig.colorbar(im, ax=ax, fraction=0.04)
    axes[0].set_ylabel("dimension")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def clip_titles(rows: pd.DataFrame) -> list[str]:
    """``clip · sensor · sources`` of each row of a clip table."""
    names = coarse_names()
    y = label_matrix(rows)  # (N, 8)
    return [
        f"{c} · sensor {s} · "
        + (", ".join(n for n, v in zip(names, yy, strict=True) if v) or "no source")
        for c, s, yy in zip(rows["clip_id"], rows["sensor_id"], y, strict=True)
    ]


# --------------------------------------------------------------------------- Figure 2

#: colours of Figure 2's strategy groups, as in the paper (green rec, orange cos, blue mask)
FIGURE2_GROUPS = {
    "rec": ("tab:green", "L_rec only"),
    "cos": ("tab:orange", "+ L_cos"),
    "mask": ("tab:blue", "+ mask z_p"),
}
_FIG2_TASKS = {
    "source": ("Source (Jaccard)", "DSCΔ priv: z_p − z_s"),
    "sensor": ("Sensor (accuracy)", "DSCΔ shared: z_s − z_p"),
}


def plot_figure2(data: pd.DataFrame):
    """Paper Figure 2, readable: one panel per task, configurations on the vertical axis.

    Each task's panel has two plots sharing the configuration axis: the overall score
    (z_p ⊕ z_s) and DSCΔ, each a dot with its 95% CI as a horizontal bar (so no interval
    crosses a label). The paper's overall score is a separate hollow diamond; the
    frontend-only baseline is the red dotted line with its CI as a red band.

    Parameters
    ----------
    data : DataFrame from :func:`mvlib.report.figure2.figure2_data`
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    mv = data[data["config"] != "frontend only"]
    configs = list(dict.fromkeys(mv["config"]))
    ypos = {c: len(configs) - 1 - i for i, c in enumerate(configs)}  # first on top
    fig = plt.figure(figsize=(14, 1.6 + 0.42 * max(len(configs), 3)), layout="constrained")
    subfigs = fig.subfigures(1, 2, wspace=0.06)
    for sub, task in zip(subfigs, _FIG2_TASKS, strict=True):
        title, dsc_label = _FIG2_TASKS[task]
        ax_o, ax_d = sub.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.1, 1]})
        sub.suptitle(title, fontsize=11)
        t = mv[mv["task"] == task]
        base = data[(data["config"] == "frontend only") & (data["task"] == task)]
        if len(base):
            b = base.iloc[0]
            ax_o.axvspan(b["overall_low"], b["overall_high"], color="red", alpha=0.08, lw=0)
            ax_o.axvline(b["overall"], color="red", ls=":", lw=1.2)
        ax_d.axvline(0, color="grey", lw=0.8)
        for r in t.itertuples():
            colour = FIGURE2_GROUPS.get(r.group, ("grey", ""))[0]
            y = ypos[r.config]
            ax_o.errorbar(
                r.overall,
                y,
                xerr=[[r.overall - r.overall_low], [r.overall_high - r.overall]],
                fmt="o",
                color=colour,
                capsize=3,
                ms=6,
            )
            if np.isfinite(r.paper):
                ax_o.plot(r.paper, y, "D", mfc="none", mec="black", ms=7)
            if np.isfinite(r.dsc):
                ax_d.errorbar(
                    r.dsc,
                    y,
                    xerr=[[r.dsc - r.dsc_low], [r.dsc_high - r.dsc]],
                    fmt="o",
                    color=colour,
                    capsize=3,
                    ms=6,
                )
        ax_o.set_yticks(list(ypos.values()), [c.replace("rec + ", "+ ") for c in ypos])
        ax_o.set_ylim(-0.6, len(configs) - 0.4)
        ax_o.set_xlabel("overall score (z_p ⊕ z_s)")
        ax_d.set_xlabel(f"{dsc_label}\n(> 0: as desired)")
        for ax in (ax_o, ax_d):
            ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], color=c, marker="o", ls="", label=lab) for c, lab in FIGURE2_GROUPS.values()
    ]
    handles += [
        Line2D([], [], color="black", marker="D", mfc="none", ls="", label="paper (Table 2)"),
        Line2D([], [], color="red", ls=":", label="frontend only (band: 95% CI)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    return fig


def figure2_caption(data: pd.DataFrame) -> str:
    """What to look at in :func:`plot_figure2`, with the numbers that answer it."""
    mv = data[data["config"] != "frontend only"]
    lines = [
        "**Figure 2.** Left of each panel: the overall score of every multi-view "
        "configuration (dot, 95% CI over seeds and test clips); right: DSCΔ, the score of "
        "the subspace that should hold the task minus the other one. Look at (1) which "
        "intervals lie entirely right of the red band: those configurations beat the "
        "frontend features alone; (2) which DSCΔ intervals lie entirely above 0: there the "
        "information went where the method wants it (source into z_p, sensor into z_s); "
        "(3) whether the blue masking group sits further right on the sensor DSCΔ than the "
        "orange cosine group (the paper: masking pushes information into z_s). Hollow "
        "diamonds are the paper's overall scores (real SONYC-UST-V2, pretrained DAC), "
        "for direction only."
    ]
    for task in ("source", "sensor"):
        t = mv[mv["task"] == task]
        base = data[(data["config"] == "frontend only") & (data["task"] == task)]
        above = t[t["dsc_low"] > 0]["config"].tolist()
        beats = (
            t[t["overall_low"] > base["overall_high"].iloc[0]]["config"].tolist()
            if len(base)
            else []
        )
        lines.append(
            f"- {task}: beat the frontend alone (CI clear of its band): "
            f"{', '.join(beats) or 'none'}; DSCΔ clearly > 0: {', '.join(above) or 'none'}."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- label efficiency


def plot_label_efficiency(scores: pd.DataFrame):
    """Score against the fraction of labelled training clips, one panel per task.

    Parameters
    ----------
    scores : DataFrame from :func:`mvlib.evaluate.label_efficiency.summarise` (encoder, task,
        fraction, n_train, estimate, ci_low, ci_high)

    Encoders are dodged sideways on the log fraction axis so that their 95% CIs
    (seeds, each the mean of its subsamples; test clips clustered in sensors) never overlap; ticks name the fraction and the mean
    number of labelled clips.
    """
    import matplotlib.pyplot as plt

    tasks = [t for t in ("source", "sensor") if (scores["task"] == t).any()]
    encoders = list(dict.fromkeys(scores["encoder"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        t = scores[scores["task"] == task]
        for j, enc in enumerate(encoders):
            e = t[t["encoder"] == enc].sort_values("fraction")
            dodge = 1.0 + 0.06 * (j - (len(encoders) - 1) / 2)  # multiplicative: log axis
            ax.errorbar(
                e["fraction"] * dodge,
                e["estimate"],
                yerr=[e["estimate"] - e["ci_low"], e["ci_high"] - e["estimate"]],
                fmt="o-",
                capsize=3,
                label=enc,
            )
        fr = t.groupby("fraction")["n_train"].mean()
        ax.set_xscale("log")
        ax.set_xticks(fr.index, [f"{f:.0%}\n({n:.0f} clips)" for f, n in fr.items()])
        ax.minorticks_off()
        ax.set_xlabel("labelled training clips used by the probe")
        ax.set_ylabel("source Jaccard" if task == "source" else "sensor accuracy")
        ax.set_title(task, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- forest plots

#: verdict -> (marker face colour, what the legend says)
FOREST_VERDICTS = {
    "better": ("tab:green", "better than the reference (Holm)"),
    "worse": ("tab:red", "worse than the reference (Holm)"),
    "not resolved": ("white", "not resolved"),
    "too few units": ("0.55", "too few units for a verdict"),
}


def plot_forest(table, title: str = ""):
    """A comparison table at a glance: every Δ with its CI, zero, and each row's MDD band.

    One panel per task, one line per compared configuration (in the table's order). The
    dot is Δ = row − reference, the bar its 95% CI, the vertical line zero; the grey band
    around zero spans ± that row's minimum detectable difference, so a dot inside its band
    is a difference this design could not have detected reliably. The dot's colour is the
    table's verdict (green better, red worse, hollow not resolved, grey too few units for
    a verdict); the legend lists the verdicts the table has.

    Parameters
    ----------
    table : :class:`mvlib.report.comparison.Table`
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    comp = table.comparisons
    tasks = [t for t in ("source", "sensor") if len(comp) and (comp["task"] == t).any()]
    labels = list(dict.fromkeys(comp["configuration"])) if len(comp) else []
    ypos = {c: len(labels) - 1 - i for i, c in enumerate(labels)}  # first on top
    fig, axes = plt.subplots(
        1,
        max(len(tasks), 1),
        figsize=(7.5, 1.3 + 0.38 * max(len(labels), 2)),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, task in zip(axes[0], tasks, strict=False):
        c = comp[comp["task"] == task]
        for r in c.to_dict("records"):
            y = ypos[r["configuration"]]
            ax.fill_betweenx(
                [y - 0.38, y + 0.38], -r["mdd"], r["mdd"], color="0.85", lw=0, zorder=0
            )
            face = FOREST_VERDICTS.get(r.get("verdict"), ("white", ""))[0]
            ax.errorbar(
                r["estimate"],
                y,
                xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                fmt="o",
                color="black",
                mfc=face,
                capsize=3,
                ms=6,
                zorder=2,
            )
        ax.axvline(0, color="black", lw=0.9, zorder=1)
        ax.set_title(f"{task}: Δ vs {table.reference}", fontsize=9)
        ax.set_xlabel("Δ = row − reference [95% CI]", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    if labels:
        axes[0][0].set_yticks(list(ypos.values()), list(ypos), fontsize=8)
        axes[0][0].set_ylim(-0.6, len(labels) - 0.4)
    handles = [Patch(color="0.85", label="± the row's MDD")]
    shown = set(comp["verdict"]) if len(comp) and "verdict" in comp else set()
    handles += [
        Line2D([], [], color="black", marker="o", mfc=face, ls="", label=text)
        for verdict, (face, text) in FOREST_VERDICTS.items()
        if verdict in shown
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
