"""The paper's reference numbers: Tables 1 and 2 of Ding et al. (arXiv 2510.02500).

Measured by the paper on real SONYC-UST-V2 audio with pretrained DAC 44.1 kHz 8 kbps
latents. Every table of the book shows them beside its own numbers (and the CSV keeps
them), for direction, not for value: mvlib's books run on other data and frontends.

Each value is ``(source, sensor)``: the sample Jaccard index of the source task and the
accuracy of the sensor task, keyed by the row label the book's tables use.
"""

from __future__ import annotations

__all__ = ["PAPER", "PAPER_TABLE1", "PAPER_TABLE2"]

#: where the numbers come from
PAPER = (
    "Ding, Wilkins, Fuentes, Bello: Latent Multi-view Learning for Robust Environmental "
    "Sound Representations, arXiv 2510.02500"
)

#: Table 1: the best multi-view configuration against the baselines
PAPER_TABLE1: dict[str, tuple[float, float]] = {
    "multiview (best)": (0.633, 0.735),
    "singleview AE": (0.582, 0.710),
    "contrastive (InfoNCE)": (0.324, 0.392),
    "frontend only": (0.583, 0.684),
    "supervised": (0.699, 0.732),
}

#: Table 2: objectives on the multi-view backbone (rows the paper reports)
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "rec": (0.610, 0.739),
    "rec + cos- sample": (0.633, 0.735),
    "rec + cos- batch": (0.610, 0.737),
    "rec + cos+ sample": (0.593, 0.719),
    "rec + cos+ batch": (0.603, 0.728),
    "rec + mask z_p r=0.4": (0.594, 0.733),
}
