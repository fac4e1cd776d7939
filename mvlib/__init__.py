"""mvlib: latent multi-view self-supervised learning for environmental sound.

Reproduces "Latent Multi-view Learning for Robust Environmental Sound
Representations" (Ding, Wilkins, Fuentes, Bello). Every computation lives in
this package; the Jupyter Book in ``book/`` only orchestrates and explains.
"""

__version__ = "0.1.0"
