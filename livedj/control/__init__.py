"""Control input: what the booth tells livedj (OSC in), turned into session commands."""
from livedj.control.osc_in import OscControlServer, parse_packet

__all__ = ["OscControlServer", "parse_packet"]
