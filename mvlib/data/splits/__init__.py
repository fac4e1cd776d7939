"""The splits of a clip table (paper 3.1): sensors, same-sensor view pairs, downstream partition.

The multi-view stage splits the *sensors* (not the clips) into train / val / held-out (paper:
39 / 5 / 12 of 56) so that the model is evaluated on unseen recording locations. A view pair
is two *different* clips of the *same* sensor: the sensor is the shared factor, the clips'
sound sources the private one. Downstream evaluation uses only the held-out sensors' clips,
partitioned into train / val / test.

The modules, in the order :func:`~mvlib.data.splits.make.make_splits` reads a config's
``split`` section:

- :mod:`.make`: :func:`~mvlib.data.splits.make.make_splits`, from a clip table and a
  :class:`~mvlib.core.config.SplitConfig` to checked :class:`~mvlib.data.splits.record.Splits`;
- :mod:`.sensors`: the sensor-disjoint train / val / held-out split (``sensor_fractions``);
- :mod:`.pairs`: the same-sensor view pairs of each split (``n_pairs``, ``pair_sampling``);
- :mod:`.partition`: the held-out sensors' downstream partition (``downstream_fractions``);
- :mod:`.counts`: split sizes from fractions, shared by the three draws;
- :mod:`.record`: :class:`~mvlib.data.splits.record.Splits`, saved and reloaded as JSON;
- :mod:`.leakage`: the proof that splits are sensor-disjoint and fit their clip table, as
  they are made and whenever they are reloaded.

All row indices are *positions* in the clip table (``clips.iloc``), which must be the same
table (same ``clip_id`` order) whenever a :class:`~mvlib.data.splits.record.Splits` is applied.
Import each name from its module, e.g. ``from mvlib.data.splits.make import make_splits``.
"""
