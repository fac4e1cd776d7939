"""Chapter 2's codec: what the shipped codec is, and its reconstructions as spectrograms.

:func:`codec_card` states a codec's provenance (training steps, CPU time, corpus, quality on
held-out corpus audio) from its file's metadata and, for a shipped codec, its provenance
file; :func:`plot_reconstruction` draws original and reconstructed clips one above the other.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mvlib.report.plots import plot_spectrogram

__all__ = ["codec_card", "plot_reconstruction"]


def codec_card(metadata: dict, provenance: dict | None = None) -> str:
    """A codec in a few lines of markdown: architecture, training and quality.

    Parameters
    ----------
    metadata : dict
        The weights file's ``metadata`` (``kwargs``: the architecture; ``mvlib``: step, CPU
        time, corpus).
    provenance : dict, optional
        A shipped codec's provenance file (commit, machine, quality figures).
    """
    kw, info = metadata.get("kwargs", {}), metadata.get("mvlib", {})
    rates = kw.get("encoder_rates", [])
    hop = int(np.prod(rates)) if rates else None
    lines = [
        f"- **{info.get('name', 'codec')}**: DAC architecture, {kw.get('sample_rate')} Hz, "
        f"encoder_dim {kw.get('encoder_dim')}, rates {rates} (hop {hop}), latent "
        f"{kw.get('latent_dim')} dims, {kw.get('n_codebooks')} codebooks of "
        f"{kw.get('codebook_size')}.",
        f"- Trained here for **{info.get('step')} steps** ({_hours(info.get('cpu_s'))} of CPU) "
        f"on its own synthetic corpus `{info.get('corpus')}` (never the book's dataset).",
    ]
    if provenance:
        q = provenance.get("quality", {})
        if q:
            lines.append(
                f"- On {q.get('n_clips')} held-out corpus clips: mel distance "
                f"**{q['mel_distance']:.3f}** (untrained {q['untrained_mel_distance']:.3f}), "
                f"SI-SDR **{q['si_sdr_db']:.1f} dB** (untrained "
                f"{q['untrained_si_sdr_db']:.1f} dB)."
            )
        lines.append(
            f"- Made at commit `{str(provenance.get('commit', '?'))[:12]}` on "
            f"{provenance.get('machine', {}).get('cpu', '?')}, {str(provenance.get('date'))[:10]}"
            f"; sha256 `{str(provenance.get('sha256', '?'))[:16]}…`."
        )
    return "\n".join(lines)


def _hours(cpu_s) -> str:
    if cpu_s is None:
        return "?"
    return f"{float(cpu_s) / 3600:.1f} h" if cpu_s >= 3600 else f"{float(cpu_s) / 60:.0f} min"


def plot_reconstruction(pairs: list[tuple[str, np.ndarray, np.ndarray]], sr: int) -> Figure:
    """Original (left) and reconstruction (right) spectrograms, one row per clip.

    Parameters
    ----------
    pairs : list of (label, original ndarray[N], reconstruction ndarray[N'])
    sr : int
        Their sample rate.
    """
    fig = Figure(figsize=(10, 2.6 * len(pairs)), layout="constrained")
    axes = fig.subplots(len(pairs), 2, squeeze=False)
    for (label, x, y), (a, b) in zip(pairs, axes, strict=True):
        plot_spectrogram(a, x, sr, f"{label}: original")
        plot_spectrogram(b, y, sr, f"{label}: reconstructed by the codec")
    return fig
