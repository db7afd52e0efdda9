"""A dev-server worker whose work runs in one daemon thread until it is asked to stop."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping

LOG = logging.getLogger("local")


def seconds_setting(environ: Mapping[str, str], name: str, otherwise: str) -> float | None:
    """A worker's interval from the environment: a positive number of seconds, or None when unset or
    invalid (warned, saying what happens `otherwise`)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        LOG.warning("%s=%r is not a positive number of seconds; %s", name, raw, otherwise)
        return None
    return seconds


class BackgroundLoop:
    """`start` runs `_run` in its thread; `_run` returns once `_stopping` is set.

    `request_stop` starts no more work and returns at once; `stop` also waits, at most
    `join_seconds`, for work in flight to finish.
    """

    join_seconds = 10.0

    def __init__(self, name: str) -> None:
        self.name = name
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No work starts after this; work in flight still runs (see `stop`)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop and wait for the thread: work in flight finishes (or times out) first."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout=self.join_seconds)

    def _run(self) -> None:
        raise NotImplementedError
