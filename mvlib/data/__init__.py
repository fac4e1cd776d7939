"""Data: SONYC-format datasets, their labels, and the sensor-disjoint view pairs.

- :mod:`.dataset`: from a Config to the dataset folder and its clip table;
- :mod:`.synth`: the synthetic urban sensor network (generator, ground truth);
- :mod:`.annotations`, :mod:`.aggregate`, :mod:`.sonyc`: reading ``annotations.csv``,
  aggregating it to one label per clip (DCASE 2020), the clip table of a folder;
- :mod:`.labels`: the label matrix of a task, and ``mvlib labels``;
- :mod:`.paths`: names from data stay inside their folder;
- :mod:`.splits`: the sensor splits, view pairs and downstream partition, checked for leakage;
- :mod:`.taxonomy`: the SONYC taxonomy.
"""
