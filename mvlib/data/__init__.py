"""Data: SONYC-format datasets (synthetic generator, annotation reading, labels) and view pairing."""
