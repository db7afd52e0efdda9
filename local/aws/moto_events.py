"""EventBridge targets in moto: each input path parsed once, not once per event and target.

moto 5.2.5 delivers an event to each target of a matching rule through
`EventTemplateParser.parse`, which parses the target's input paths (eight JSONPath expressions by
default) with `jsonpath_ng.ext.parse` for every event. That builds a new ply parser each time (its
grammar tables included): most of a PutEvents' time on the emulator, paid for each of the bus's
rules (the audit rule, a consumer's queue) while holding up the publisher. A parsed path is only
read (`find`), so the same expression text is parsed once and its parse reused; the events
delivered are the same.

Drop this module once moto caches its parsed input paths.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonpath_ng.ext


@functools.lru_cache(maxsize=256)
def _parsed(path: str) -> Any:
    return _original(path)


_original = jsonpath_ng.ext.parse


def parse(path: str, *args: Any, **kwargs: Any) -> Any:
    if args or kwargs or not isinstance(path, str):
        return _original(path, *args, **kwargs)
    return _parsed(path)


def install() -> None:
    if jsonpath_ng.ext.parse is parse:
        return
    jsonpath_ng.ext.parse = parse
