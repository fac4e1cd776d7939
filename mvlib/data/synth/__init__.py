"""A synthetic urban sensor network, written in the SONYC-UST-V2 format.

Each sensor is a microphone on a street: its *channel* is a smooth microphone
frequency response (low-cut corner, peaking bands, high shelf, high-frequency
roll-off), a room/street impulse response (early reflections and an
exponentially decaying tail of sensor-specific RT60), a stationary coloured
background (spectral tilt, traffic rumble) and, on some sensors, mains hum.
These differ in *spectral shape*, not level, so they survive loudness
normalisation; ``channel_spread`` scales how far sensors differ (0: identical)
and ``channel_drift`` how much each clip's channel wanders (weather, traffic).

Each clip holds 0..``max_sources`` sound sources of the 8 SONYC coarse classes,
drawn from the sensor's own Dirichlet prior, each rendered by a class-specific
generator (harmonic engines, impact trains, saw whine, sirens, melodies, formant
voices, barks), placed at a random time with a random SNR re. the background.

The modules, one concept each:

- :mod:`.plan`: sensors' channels, priors, dataset splits; clips' sources and drift (no audio);
- :mod:`.dsp`: signal building blocks; :mod:`.filters`: closed-form Butterworth designs;
- :mod:`.sources`: the 8 class generators;
- :mod:`.channel`: background, room, microphone, hum, and a whole clip;
- :mod:`.annotators`: the simulated crowd, team and verified annotations;
- :mod:`.folder`: which folders mvlib may write (marker, manifest, folder states);
- :mod:`.lock`: one generating process per set; :mod:`.generation`: the driver and pool;
- :mod:`.truth`: ``truth.json`` and label agreement with it.

Import each name from its module, e.g. ``from mvlib.data.synth.generation import generate``.
"""
