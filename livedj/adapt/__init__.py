"""Adapting the embedding to the booth microphone ("hear through the room").

* :mod:`livedj.adapt.data` -- 5-s chunks, simulated booth views, the cached musicnn features;
* :mod:`livedj.adapt.head` -- the projection head, its file format (safetensors + metadata), hash;
* :mod:`livedj.adapt.train` -- NT-Xent training on cached features, validation, checkpoints.

The encoder that uses a head is :class:`livedj.encoders.adapted.AdaptedEncoder` ("musicnn-booth").
"""
