"""Loading an :class:`~livedj.engine.analyzer.Engine`: encoder, index and track metadata, as a config says.

Loading changes nothing outside the engine it returns (no environment variables, no thread
limits, no edits of the config dict); the live loop's process-wide settings are made by
:meth:`Engine.go_live <livedj.engine.analyzer.Engine.go_live>` where they apply.
"""
from __future__ import annotations

from livedj.encoders import encoder_dim, encoder_id, get_encoder
from livedj.encoders.adapted import resolve_head
from livedj.engine.analyzer import Engine, Ranking
from livedj.engine.embed import make_embedder
from livedj.engine.now_playing import NowPlayingTracker, library_bpms
from livedj.engine.ranker import Rules, Weights
from livedj.library import index as annoy_index
from livedj.library.store import Store


def ranking_from_config(ranking: dict) -> Ranking:
    """The :class:`Ranking` of a config's ``[ranking]`` table."""
    weights = Weights(ranking["weight_similarity"], ranking["weight_tempo"], ranking["weight_key"],
                      ranking["weight_context"])
    rules = Rules(ranking["pitch_range"] or 1e-6, ranking["harmonic_only"], ranking["reachable_only"],
                  shortlist=ranking.get("shortlist", 20))
    return Ranking(top=ranking["top"], candidates=ranking["candidates"], search_k=ranking["search_k"],
                   weights=weights, rules=rules)


def load_engine(config: dict, *, reuse: Engine | None = None) -> Engine:
    """Load encoder, index and track metadata as ``config`` says; raise with a one-line message if unusable.

    Parameters
    ----------
    config : dict
        A checked config (:func:`livedj.config.load`); read, never changed. The index is
        ``config["index"]["path"]`` (``--index`` overrides it there).
    reuse : Engine, optional
        A running engine (a reload): its encoder and live tempo/key state are kept when the config
        still names the same encoder, and what plays stays identified (track ids survive
        re-indexing) -- a reload then only re-reads the index.

    Raises
    ------
    livedj.library.index.IndexUnusable, livedj.library.store.StoreError
    """
    analysis, audio = config["analysis"], config["audio"]
    index_dir = config["index"]["path"]
    name = analysis["encoder"]
    head = str(resolve_head(config, index_dir))  # used by a headed encoder (musicnn-booth) only
    index = annoy_index.load(index_dir, encoder=encoder_id(name, head), dim=encoder_dim(name, head),
                             window_s=audio["window_s"])  # never compare vectors of unlike windows
    store = Store(index_dir, readonly=True)
    try:
        tracks = store.tracks()
    finally:
        store.close()
    if reuse is not None and f"{reuse.encoder.name}/{reuse.encoder.version}" == index.manifest["encoder"]:
        encoder = reuse.encoder  # the same vectors (same encoder, same head): keep it
    else:
        encoder = get_encoder(name, threads=analysis["threads"], head=head)
    segment_encoder = None
    if index.fingerprints is None and index.segment_encoder and index.segment_encoder != index.manifest["encoder"]:
        segment_encoder = get_encoder(index.segment_encoder.split("/", 1)[0], threads=1)
    if reuse is not None:
        now_playing = reuse.now_playing.rebind(index, segment_encoder, identify_s=analysis["identify_s"],
                                               key_lock=analysis["key_lock"], stream=analysis["stream_match"],
                                               bpms=library_bpms(tracks))
    else:
        now_playing = NowPlayingTracker(index, segment_encoder, identify_s=analysis["identify_s"],
                                        key_lock=analysis["key_lock"], search_k=config["ranking"]["search_k"],
                                        stream=analysis["stream_match"], bpms=library_bpms(tracks))
    engine = Engine(embedder=make_embedder(encoder, audio["window_s"]), index=index, tracks=tracks,
                    now_playing=now_playing, ranking=ranking_from_config(config["ranking"]))
    if reuse is not None and encoder is reuse.encoder:
        engine.listener = reuse.listener
    engine.context = _context(config, index_dir, index.manifest["encoder"])
    if reuse is not None:
        engine.night = reuse.night  # tonight's skips and bans survive a reload
        engine.heard_music = reuse.heard_music  # and, in a silence, the last music's suggestions
    return engine


def _context(config: dict, index_dir, encoder: str):
    """The context model (the DJ's playlists, crates, sets), or None: its term is then left out."""
    import logging

    from livedj.library.context_update import load_context

    if config["ranking"]["weight_context"] <= 0:
        return None
    model, problem = load_context(index_dir, encoder, config["history"]["path"])
    if problem:
        logging.getLogger("livedj").warning("%s", problem)
    return model
