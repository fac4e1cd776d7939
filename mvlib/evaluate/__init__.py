"""Evaluation: probes, label efficiency, disentanglement, metrics, statistics (on mvlib.embed's embeddings)."""
