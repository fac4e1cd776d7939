"""The codec section of a profile: a DAC-architecture codec, its corpus and its training.

``mvlib codec train --profile P`` (:func:`mvlib.train_codec`) trains ``dac.model.DAC`` with
these sizes on a synthetic corpus of its own (mvlib's generator, its own seed and sensors,
disjoint from the book's dataset), with ``dac.nn.loss``'s multi-scale mel and waveform L1
losses plus the VQ codebook and commitment losses; the discriminator and its GAN and
feature-matching losses are an option (``gan``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODEC_RANGES", "CodecConfig"]


@dataclass(frozen=True)
class CodecConfig:
    """A DAC-architecture codec (``dac.DAC`` keyword arguments), its corpus and its training."""

    name: str = "mvlib-codec-22khz"  #: the codec's name: its cache folder and shipped file
    # the architecture: dac.DAC(...) keyword arguments
    sample_rate: int = 22050
    encoder_dim: int = 16
    encoder_rates: tuple[int, ...] = (2, 4, 5, 8)  #: hop = product = 320 samples
    latent_dim: int = 64  #: the pre-quantization latent: the frontend's feature size
    decoder_dim: int = 96
    decoder_rates: tuple[int, ...] = (8, 5, 4, 2)
    n_codebooks: int = 4
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5  #: DAC's recipe: a random number of codebooks per item
    # the corpus: mvlib's generator with its own seed and sensors (never the book's set)
    corpus_seed: int = 1000
    corpus_sensors: int = 40
    corpus_clips_per_sensor: int = 30
    corpus_duration_s: float = 5.0
    heldout_sensors: int = 4  #: the corpus's last sensors: held out for quality figures
    loudness_lufs: float = -24.0  #: clips normalised as the frontend normalises them
    # training: a constant learning rate, so that more steps extend a run, never change it
    steps: int = 3000
    batch_size: int = 8
    segment_s: float = 1.0  #: excerpt length (rounded up to whole hops)
    lr: float = 3e-4
    betas: tuple[float, float] = (0.8, 0.99)  #: DAC's AdamW betas
    grad_clip: float = 1000.0  #: DAC's gradient-norm clip
    seed: int = 0
    mel_weight: float = 15.0  #: DAC's lambdas: mel 15, commitment 0.25, codebook 1
    l1_weight: float = 1.0
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    gan: bool = False  #: add dac's discriminator with its GAN and feature-matching losses
    gan_weight: float = 1.0
    feature_weight: float = 2.0
    checkpoint_every: int = 50  #: steps between resume checkpoints (atomic)
    snapshot_every: int = 250  #: steps between kept DAC-format snapshots (learning curve)
    device: str = "auto"
    threads: int | None = None  #: torch CPU threads (None: torch's default)


#: (section class, field) -> (test, wanted), merged into mvlib.core.config's range checks
CODEC_RANGES = {
    ("CodecConfig", "sample_rate"): (lambda v: v >= 8000, ">= 8000 Hz"),
    ("CodecConfig", "encoder_dim"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "encoder_rates"): (lambda v: len(v) >= 1 and min(v) >= 1, "rates >= 1"),
    ("CodecConfig", "decoder_rates"): (lambda v: len(v) >= 1 and min(v) >= 1, "rates >= 1"),
    ("CodecConfig", "latent_dim"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "decoder_dim"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "n_codebooks"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "codebook_size"): (lambda v: v >= 2, ">= 2"),
    ("CodecConfig", "codebook_dim"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "quantizer_dropout"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("CodecConfig", "corpus_sensors"): (lambda v: v >= 2, ">= 2"),
    ("CodecConfig", "corpus_clips_per_sensor"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "corpus_duration_s"): (lambda v: v >= 0.5, ">= 0.5"),
    ("CodecConfig", "steps"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "batch_size"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "segment_s"): (lambda v: v > 0, "> 0"),
    ("CodecConfig", "lr"): (lambda v: 0 < v < float("inf"), "> 0 and finite"),
    ("CodecConfig", "checkpoint_every"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "snapshot_every"): (lambda v: v >= 1, ">= 1"),
    ("CodecConfig", "threads"): (lambda v: v is None or v >= 1, ">= 1 or null"),
}
