"""Signal processing: pure functions over numpy arrays (mel, rhythm, tonality, fingerprints, level, room).

Imports nothing above itself; everything above may import it.
"""

#: the analysis window, seconds: what one live update embeds and what a song's beginning vector is
#: made of (the index and the live query must agree). ``audio.window_s`` in the config defaults to it;
#: every other default of a window length in livedj refers to this one.
WINDOW_S = 5.0
