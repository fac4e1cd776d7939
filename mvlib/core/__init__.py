"""Configuration, its resolution and hand-over, the cache root and mvlib's one-line errors."""
