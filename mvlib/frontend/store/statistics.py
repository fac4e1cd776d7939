"""Feature statistics of a latent store: per-dimension mean and std, streamed."""

from __future__ import annotations

import numpy as np

from mvlib.frontend.store.reader import LatentStore


def feature_statistics(
    store: LatentStore, max_clips: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over all frames of (the first ``max_clips``) clips.

    Streams clip by clip (float64 sums), so the store is never loaded whole.

    Returns
    -------
    mean, std : np.ndarray[D]
    """
    n = len(store) if max_clips is None else min(max_clips, len(store))
    assert n > 0, f"{store.path}: no clips to summarise"
    s = np.zeros(store.dim)
    ss = np.zeros(store.dim)
    count = 0
    for r in range(n):
        x = store.get(r).astype(np.float64)  # (T, D)
        s += x.sum(0)
        ss += (x**2).sum(0)
        count += len(x)
    mean = s / count
    return mean, np.sqrt(np.maximum(ss / count - mean**2, 0.0))
