"""The latent store: every clip's (frames, D) features in float16, memory-mapped, resumable.

Layout: a store is a folder of parts; parts of any shard layout (``--shard i/N`` for any N)
are read together as one store::

    <store>/store.json                      header: identity, dim, dtype, provenance
    <store>/part-000-of-002/part.json       the part's own header: the settings its bytes hold
    <store>/part-000-of-002/latents.f16     raw float16 rows (one row per frame), append-only
    <store>/part-000-of-002/index.jsonl     one JSON line per committed clip, append-only
    <store>/part-000-of-002/retired.jsonl   rows superseded (audio changed, data lost), by uid
    <store>/part-000-of-002/bad.jsonl       clips whose audio was rejected (rewritten whole)
    <store>/part-000-of-002/.lock           file lock held by the one writer of the part

What the store proves: every part carries the settings (frontend identity, dim, dtype) that
made its bytes, and a writer is refused unless they equal its own, part by part, so bytes are
never read under other settings (``store.json`` is a summary, rewritten if deleted). Every
index line carries the identity of the audio it came from (``source_size``,
``source_mtime_ns``, ``source_sha256``), a ``uid`` and the CRC-32 of its latent bytes
(``latent_crc32``): :func:`~mvlib.frontend.store.verify.verify_store` checks them all,
extraction checks the cheap ones.

One concept per module:

- :mod:`~mvlib.frontend.store.format`: the on-disk format (layout, headers, index lines,
  a part's bookkeeping);
- :mod:`~mvlib.frontend.store.source`: the identity of a clip's audio file;
- :mod:`~mvlib.frontend.store.writer`: :class:`~mvlib.frontend.store.writer.StoreWriter`, its
  commit protocol and crash repair;
- :mod:`~mvlib.frontend.store.reader`: :class:`~mvlib.frontend.store.reader.LatentStore`, the
  memory-mapped reader;
- :mod:`~mvlib.frontend.store.statistics`:
  :func:`~mvlib.frontend.store.statistics.feature_statistics`;
- :mod:`~mvlib.frontend.store.verify`: :func:`~mvlib.frontend.store.verify.verify_store` and
  its report.

Import each name from its module, e.g. ``from mvlib.frontend.store.reader import LatentStore``.
"""
