"""moto's server finding a request's backend without reading its own package directory each time.

moto 5.2.5's server (`DomainDispatcherApplication.get_application`) picks the backend of every
request under one lock, and on the way asks `moto.backends.list_of_moto_modules()`, which lists
moto's package directory and stats each of its ~200 entries, whether the request's host names a
module. Every emulated request of every function, of the stream feeders and of the publisher's
PutEvents waits on that lock while it does: under load it was where the dev server's requests
queued (`python -m bench load`, docs/architecture.md). The directory does not change while the
process runs, so it is read once here; the lookup answers exactly as before.

Drop this module once moto caches its list of modules.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from moto import backends


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_original())


_original = backends.list_of_moto_modules


def list_of_moto_modules() -> Iterable[str]:
    return iter(_moto_modules())


def install() -> None:
    if backends.list_of_moto_modules is list_of_moto_modules:
        return
    backends.list_of_moto_modules = list_of_moto_modules
