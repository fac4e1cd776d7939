"""Training a DAC-architecture codec on mvlib's synthetic corpus (``mvlib codec train``).

- :mod:`.corpus`: the codec's own synthetic corpus, preprocessed and cached;
- :mod:`.model`: ``dac.DAC`` from a profile's ``codec`` section, and DAC-format files;
- :mod:`.losses`: DAC's losses (multi-scale mel, waveform L1, VQ; GAN as an option);
- :mod:`.trainer`: the resumable, locked training loop.
"""
