"""moto's server finding a request's backend and action without repeating work that never changes.

moto 5.2.5's server (`DomainDispatcherApplication.get_application`) picks the backend of every
request under one lock, and on the way asks `moto.backends.list_of_moto_modules()`, which lists
moto's package directory and stats each of its ~200 entries, whether the request's host names a
module. Every emulated request of every function, of the stream feeders and of the publisher's
PutEvents waits on that lock while it does: under load it was where the dev server's requests
queued (`python -m bench load`, docs/architecture.md). The directory does not change while the
process runs, so it is read once here; the lookup answers exactly as before.

Then `BaseResponse.call_action` finds the action's method by listing every function of the
response class with `inspect.getmembers` (a few hundred members, sorted) and converting the
action's name to snake_case character by character, on every request: about a tenth of the
emulator's time per DynamoDB call (docs/architecture.md, "The dev server under load"). A class's
functions and a name's conversion do not change while the process runs (every adaptation is
installed before the server answers), so both are computed once per class and per name.

Drop this module once moto caches its list of modules and its action lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from moto import backends
from moto.core import responses, utils


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_original())


_original = backends.list_of_moto_modules
_method_names = utils.method_names_from_class
_snake_case = utils.camelcase_to_underscores


def list_of_moto_modules() -> Iterable[str]:
    return iter(_moto_modules())


@functools.cache
def _method_names_once(clazz: type) -> frozenset[str]:
    return frozenset(_method_names(clazz))


def method_names_from_class(clazz: object) -> frozenset[str]:
    """The names of `clazz`'s functions (call_action only asks whether the action is one of them)."""
    return _method_names_once(clazz)


camelcase_to_underscores = functools.lru_cache(maxsize=4096)(_snake_case)


def install() -> None:
    if backends.list_of_moto_modules is list_of_moto_modules:
        return
    backends.list_of_moto_modules = list_of_moto_modules
    # call_action looks both up through its module's names
    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]
    responses.camelcase_to_underscores = camelcase_to_underscores
