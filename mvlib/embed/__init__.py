"""Embeddings: a trained run's frozen encoder applied to stored features, audio, folders, HEAR.

At inference one clip suffices (paper 2.1): the encoder maps a clip's frames to ``z_p`` and
``z_s``; a clip's embedding is their time mean, and the joint embedding ``z_p ⊕ z_s``.

One concept per module:

- :mod:`.stored`: the encoder on a latent store's features: the probes' and analyses'
  embeddings of a run's downstream clips (``run_embeddings``);
- :mod:`.audio`: the encoder with the run's own frontend on audio arrays and files
  (``AudioEmbedder``); its :meth:`~mvlib.embed.audio.AudioEmbedder.encode` is the one
  window → frontend → encoder loop of every audio path below;
- :mod:`.folders`: batches of files, folders and globs into an output folder (``mvlib embed``);
- :mod:`.hear`: the HEAR-2021 common API, so that hear-eval-kit can score a run.

Import each name from its module, e.g. ``from mvlib.embed.stored import run_embeddings``.
"""
