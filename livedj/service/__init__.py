"""Running livedj as a systemd service: the sd_notify protocol and the user unit.

:class:`~livedj.service.notify.Notifier` has no dependencies and is a no-op outside systemd, so
the daemon uses it unconditionally; :mod:`livedj.service.unit` renders and installs the unit.
"""
from livedj.service.notify import Notifier

__all__ = ["Notifier"]
