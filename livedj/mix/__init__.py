"""Rendering DJ mixes: beat grids, key-locked time-stretch, phrase-aligned blends with a bass
swap, loudness matching, streamed encoding with a cue sheet and a tracklist."""
