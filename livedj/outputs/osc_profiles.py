"""OSC profiles: what one target is sent for each update (see docs/osc.md and docs/ableton.md).

A profile is an object created **per target** (:func:`make_profile`), so it may remember what it
sent and send only what changed. :class:`~livedj.outputs.osc.OscPublisher` calls
:meth:`OscProfile.messages` once per update and :meth:`OscProfile.reset` when a send to the target
failed, so the next update sends everything again.

- ``livedj`` (:class:`LivedjProfile`): the full framed update, one bundle, every update.
- ``abletonosc`` (:class:`AbletonOscProfile`): Live's status bar and clip names/colours through
  the AbletonOSC remote script, plain messages, only changes.
- ``touchosc`` (:class:`TouchOscProfile`): one address per label for a tablet layout, only
  changes, one bundle.
"""
from __future__ import annotations

import json
import math
import time
from typing import Callable

from livedj.engine.rules import key_relation
from livedj.engine.update import Update
from livedj.outputs.jsonlines import jsonable, safe_text
from livedj.outputs.osc_args import Message, finite, floored_db, get_field, track_details, track_label

#: The stage order of ``/latency`` (stages not listed follow in the update's order).
STAGES = ("mel", "embed", "query", "rank", "publish")


def livedj_profile(update: Update, prefix: str = "/livedj") -> list[Message]:
    """The default address space: one framed set of messages per update (see docs/osc.md).

    ``/update`` opens the set, ``/update/end`` closes it and repeats the message count, so a
    receiver that flattens bundles can still tell one update from the next. None values are
    sent as 0.0 (bpm) and "" (key). ``/now``, ``/decks`` and ``/live`` are sent only when the
    update has those fields (read with getattr, so older updates without them still work).
    """
    seq = int(update.seq)
    msgs = [Message(f"{prefix}/update", (seq, finite(update.t), len(update.suggestions)))]
    for s in update.suggestions:
        why = json.dumps(jsonable(s.why), separators=(",", ":")) if s.why else ""
        msgs.append(Message(f"{prefix}/suggestion", (
            seq, int(s.rank), safe_text(s.path), safe_text(s.artist), safe_text(s.title),
            finite(s.score), finite(s.similarity), finite(s.bpm), safe_text(s.key or ""),
            int(s.track_id), safe_text(why),
        )))
    tag_args: list = [seq]
    for name, p in update.tags:
        tag_args += [safe_text(name), finite(p)]
    msgs.append(Message(f"{prefix}/tags", tuple(tag_args)))
    msgs.append(Message(f"{prefix}/level", (seq, floored_db(update.level_db), floored_db(update.peak_db))))
    stages = [k for k in STAGES if k in update.stage_ms]
    stages += [k for k in update.stage_ms if k not in STAGES]
    lat_args: list = [seq, finite(update.latency_ms)]
    for k in stages:
        lat_args += [safe_text(k), finite(update.stage_ms[k])]
    msgs.append(Message(f"{prefix}/latency", tuple(lat_args)))
    msgs.append(Message(f"{prefix}/status", (seq, safe_text(update.status), int(update.overflows))))
    now = getattr(update, "now_playing", None)
    if now is not None:
        msgs.append(Message(f"{prefix}/now", (
            seq, safe_text(get_field(now, "path") or ""), safe_text(get_field(now, "artist") or ""),
            safe_text(get_field(now, "title") or ""), finite(get_field(now, "confidence")),
        )))
    decks = getattr(update, "decks", ()) or ()
    if decks:
        deck_args: list = [seq, len(decks)]
        for d in decks:  # now first, then the other deck
            deck_args += [int(get_field(d, "track_id") or 0), safe_text(get_field(d, "path") or ""),
                          safe_text(get_field(d, "artist") or ""), safe_text(get_field(d, "title") or ""),
                          finite(get_field(d, "confidence")), finite(get_field(d, "level"))]
        msgs.append(Message(f"{prefix}/decks", tuple(deck_args)))
    bpm, key = getattr(update, "live_bpm", None), getattr(update, "live_key", None)
    if bpm is not None or key is not None:
        msgs.append(Message(f"{prefix}/live", (
            seq, finite(bpm), finite(getattr(update, "live_bpm_confidence", None)),
            safe_text(key or ""), finite(getattr(update, "live_key_confidence", None)),
        )))
    msgs.append(Message(f"{prefix}/update/end", (seq, len(msgs) + 1)))
    return msgs


# -- the profile objects ---------------------------------------------------------------------------
class OscProfile:
    """Base class: turns each update into the messages for one target.

    Attributes
    ----------
    name : str
        The profile's name in the config.
    bundle : bool
        True: the messages go out as one bundle (one datagram). False: one datagram each, for
        receivers that do not read bundles or that stop at the first failing message of one.
    """

    name = ""
    bundle = True

    def messages(self, update: Update) -> list[Message]:
        """The messages to send for ``update`` (may be empty: nothing changed)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what was sent, so the next update sends everything (after a failed send)."""


class FunctionProfile(OscProfile):
    """A stateless profile from a function ``f(update, prefix) -> list[Message]``."""

    def __init__(self, function: Callable[[Update, str], list[Message]], prefix: str = "/livedj") -> None:
        self.function = function
        self.prefix = prefix
        self.name = getattr(function, "__name__", "function")

    def messages(self, update: Update) -> list[Message]:
        return self.function(update, self.prefix)


class LivedjProfile(FunctionProfile):
    """The default: :func:`livedj_profile`, one framed bundle per update."""

    def __init__(self, prefix: str = "/livedj") -> None:
        super().__init__(livedj_profile, prefix)
        self.name = "livedj"


class _ChangesOnly(OscProfile):
    """Remembers the last value sent per address and sends an address again only when it changes.

    Everything is sent again every ``resync_s`` seconds (0: never) because UDP gives no receipt:
    a receiver that restarted (Live reopened the set, the tablet woke up) catches up by itself.
    """

    def __init__(self, resync_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not (isinstance(resync_s, (int, float)) and math.isfinite(resync_s) and resync_s >= 0):
            raise ValueError(f"resync_s must be a number >= 0, got {resync_s!r}")
        self.resync_s = float(resync_s)
        self.clock = clock
        self._sent: dict[tuple, tuple] = {}
        self._synced_at: float | None = None

    def reset(self) -> None:
        self._sent.clear()
        self._synced_at = None

    def _begin(self) -> None:
        now = self.clock()
        if self._synced_at is None or (self.resync_s and now - self._synced_at >= self.resync_s):
            self._sent.clear()
            self._synced_at = now

    def _changed(self, key: tuple, msg: Message, out: list[Message]) -> None:
        if self._sent.get(key) != msg.args:
            self._sent[key] = msg.args
            out.append(msg)


#: Clip colours (0xRRGGBB, as AbletonOSC's ``/live/clip/set/color`` takes them; Live shows the
#: nearest colour of its palette) by harmonic relation to the live key (see engine/rules.py).
KEY_COLORS = {
    "same": 0x3DC300,      # green: same key
    "adjacent": 0x87FF67,  # light green: +-1 on the wheel
    "relative": 0x10A4EE,  # blue: relative major/minor
    "boost": 0xFFA529,     # orange: +2, energy boost
    "clash": 0xFF3636,     # red: clashes
    "unknown": 0xAAAAAA,   # grey: a key is unknown
}
EMPTY_COLOR = 0x555555  #: dark grey: fewer suggestions than slots


def harmonic_relation(suggestion: object, live_key: object) -> str:
    """The ranker's ``why["key_relation"]``, else the relation of ``live_key`` to the track's key."""
    why = get_field(suggestion, "why") or {}
    relation = why.get("key_relation") if isinstance(why, dict) else None
    if relation in KEY_COLORS:
        return relation
    return key_relation(live_key, get_field(suggestion, "key"))[0]


def _positive_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    return value


class AbletonOscProfile(_ChangesOnly):
    """For the AbletonOSC remote script (Live listens on UDP 11000); see docs/ableton.md.

    Sends ``/live/api/show_message "livedj: Artist - Title (8A, 124 BPM)"`` when the top pick
    changes, and writes the top ``slots`` suggestions as clip names and colours into clip slots
    ``first_slot ..`` of track ``track`` (0-based, as AbletonOSC counts), only for slots whose
    name or colour changed. The slots must hold clips: AbletonOSC cannot name an empty slot
    (nor load an audio file into one).

    Messages are sent one datagram each: AbletonOSC stops handling a bundle at the first message
    that fails (e.g. a slot without a clip), while a failing single message costs only itself.
    """

    name = "abletonosc"
    bundle = False

    def __init__(self, track: int = 0, slots: int = 8, first_slot: int = 0, show_message: bool = True,
                 resync_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(resync_s, clock)
        self.track = _positive_int("track", track, 0, 9999)
        self.slots = _positive_int("slots", slots, 0, 64)
        self.first_slot = _positive_int("first_slot", first_slot, 0, 9999)
        self.show_message = bool(show_message)

    @staticmethod
    def status_text(suggestion: object) -> str:
        details = track_details(suggestion)
        return f"livedj: {track_label(suggestion)}" + (f" ({details})" if details else "")

    @staticmethod
    def clip_name(rank: int, suggestion: object | None) -> str:
        if suggestion is None:
            return ""
        details = track_details(suggestion)
        return f"{rank}. {track_label(suggestion)}" + (f" ({details})" if details else "")

    def messages(self, update: Update) -> list[Message]:
        self._begin()
        out: list[Message] = []
        suggestions = update.suggestions
        if self.show_message and suggestions:
            # only when the pick changes: the status bar is Live's, not ours to flood
            self._changed(("status",), Message("/live/api/show_message", (self.status_text(suggestions[0]),)), out)
        live_key = getattr(update, "live_key", None)
        for i in range(self.slots):
            s = suggestions[i] if i < len(suggestions) else None
            slot = self.first_slot + i
            name = self.clip_name(i + 1, s)
            color = EMPTY_COLOR if s is None else KEY_COLORS[harmonic_relation(s, live_key)]
            self._changed(("name", slot), Message("/live/clip/set/name", (self.track, slot, name)), out)
            self._changed(("color", slot), Message("/live/clip/set/color", (self.track, slot, color)), out)
        return out


class TouchOscProfile(_ChangesOnly):
    """One address per label, for TouchOSC (or any control surface) without scripting.

    For ranks ``r`` = 1..``slots``: ``{prefix}/r/label``, ``/artist``, ``/title``, ``/info``,
    ``/key``, ``/bpm``, ``/score``, ``/similarity``, ``/id``; plus ``{prefix}/now/label``,
    ``{prefix}/now/confidence``, ``{prefix}/deck/{1,2}/label``, ``/level``, ``/confidence``,
    ``{prefix}/bpm``, ``{prefix}/key``, ``{prefix}/status``
    (see docs/osc.md). Ranks without a suggestion get "" and 0 so stale labels clear. Only
    changed values are sent, in one bundle.
    """

    name = "touchosc"

    def __init__(self, prefix: str = "/livedj", slots: int = 8, resync_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(resync_s, clock)
        self.prefix = prefix
        self.slots = _positive_int("slots", slots, 0, 64)

    def messages(self, update: Update) -> list[Message]:
        self._begin()
        out: list[Message] = []
        p = self.prefix

        def put(address: str, value: object) -> None:
            self._changed((address,), Message(address, (value,)), out)

        for r in range(1, self.slots + 1):
            s = update.suggestions[r - 1] if r <= len(update.suggestions) else None
            put(f"{p}/{r}/label", track_label(s) if s else "")
            put(f"{p}/{r}/artist", safe_text(s.artist) if s else "")
            put(f"{p}/{r}/title", safe_text(s.title) if s else "")
            put(f"{p}/{r}/info", track_details(s) if s else "")
            put(f"{p}/{r}/key", safe_text(s.key or "") if s else "")
            put(f"{p}/{r}/bpm", round(finite(s.bpm), 1) if s else 0.0)
            put(f"{p}/{r}/score", round(finite(s.score), 3) if s else 0.0)
            put(f"{p}/{r}/similarity", round(finite(s.similarity), 3) if s else 0.0)
            put(f"{p}/{r}/id", int(s.track_id) if s else -1)
        now = getattr(update, "now_playing", None)
        put(f"{p}/now/label", track_label(now) if now is not None else "")
        put(f"{p}/now/confidence", round(finite(get_field(now, "confidence")), 2) if now is not None else 0.0)
        decks = getattr(update, "decks", ()) or ()
        for i in (1, 2):  # deck 1 is now, deck 2 the other
            d = decks[i - 1] if i <= len(decks) else None
            put(f"{p}/deck/{i}/label", track_label(d) if d is not None else "")
            put(f"{p}/deck/{i}/level", round(finite(get_field(d, "level")), 2) if d is not None else 0.0)
            put(f"{p}/deck/{i}/confidence", round(finite(get_field(d, "confidence")), 2) if d is not None else 0.0)
        put(f"{p}/bpm", round(finite(getattr(update, "live_bpm", None)), 1))
        put(f"{p}/key", safe_text(getattr(update, "live_key", None) or ""))
        put(f"{p}/status", safe_text(update.status))
        return out


#: Profile factories by name: ``factory(prefix=..., **options) -> OscProfile``.
PROFILES: dict[str, Callable[..., OscProfile]] = {
    "livedj": lambda prefix="/livedj": LivedjProfile(prefix),
    "abletonosc": lambda prefix="/livedj", **options: AbletonOscProfile(**options),
    "touchosc": lambda prefix="/livedj", **options: TouchOscProfile(prefix, **options),
}
#: The options each profile takes (besides host, port, profile), for the config schema.
PROFILE_OPTIONS = {
    "livedj": (),
    "abletonosc": ("track", "slots", "first_slot", "show_message", "resync_s"),
    "touchosc": ("slots", "resync_s"),
}


def check_prefix(prefix: str) -> str:
    """``prefix`` without a trailing "/".

    Raises
    ------
    ValueError
        When it does not start with "/" or holds spaces or OSC pattern characters.
    """
    from livedj.config_checks import osc_prefix

    prefix = str(prefix).rstrip("/")
    problem = osc_prefix(prefix)  # the same check config.toml's osc.targets[].prefix gets on load
    if problem:
        raise ValueError(problem)
    return prefix


def make_profile(profile: OscProfile | Callable | str = "livedj", prefix: str = "/livedj",
                 **options) -> OscProfile:
    """A fresh profile object for one target.

    Parameters
    ----------
    profile : str, callable or OscProfile
        A name in :data:`PROFILES`, a function ``f(update, prefix) -> list[Message]``, or a
        profile object (used as it is: do not share a stateful one between targets).
    prefix : str
        Address prefix (``livedj`` and ``touchosc``; AbletonOSC's addresses are fixed).
    **options
        The profile's options (:data:`PROFILE_OPTIONS`).

    Raises
    ------
    ValueError
        Unknown profile name, option or bad option value.
    """
    if isinstance(profile, OscProfile):
        if options:
            raise ValueError(f"options {sorted(options)} given with a ready profile object")
        return profile
    if callable(profile):
        if options:
            raise ValueError(f"options {sorted(options)} given with a profile function")
        return FunctionProfile(profile, prefix)
    if profile not in PROFILES:
        raise ValueError(f"unknown OSC profile {profile!r}; known: {', '.join(PROFILES)}")
    unknown = set(options) - set(PROFILE_OPTIONS[profile])
    if unknown:
        raise ValueError(f"OSC profile {profile!r} has no option {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(PROFILE_OPTIONS[profile]) or 'none'}")
    options["prefix"] = check_prefix(prefix)
    try:
        return PROFILES[profile](**options)
    except TypeError as exc:
        raise ValueError(f"OSC profile {profile!r}: {exc}") from None
