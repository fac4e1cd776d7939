"""Frontends: log-mel and DAC feature extraction, loudness normalisation and the latent store."""
