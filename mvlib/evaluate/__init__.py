"""Evaluation: embeddings, probes, HEAR API, label efficiency, disentanglement, metrics, statistics."""
