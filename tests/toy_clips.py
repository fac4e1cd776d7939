"""A toy clip table: sensors with labelled clips (helper of the training tests).

Clip ``k`` of sensor ``s`` is ``"{s:02d}_{k:06d}.wav"``; each of the 8 coarse source labels
is on with probability ``p``, drawn from ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mvlib.data.taxonomy import coarse_label_columns


def toy_clips(n_sensors: int = 6, per_sensor: int = 8, seed: int = 0, p: float = 0.3):
    """The clip table: ``clip_id``, ``sensor_id`` and the coarse label columns."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sensors):
        for k in range(per_sensor):
            labels = (rng.random(8) < p).astype(np.int8)
            rows.append(
                {
                    "clip_id": f"{s:02d}_{k:06d}.wav",
                    "sensor_id": f"{s:02d}",
                    **dict(zip(coarse_label_columns(), labels)),
                }
            )
    return pd.DataFrame(rows)
