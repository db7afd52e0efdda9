"""Who calls, whose sessions a call touches, and who may act for whom."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sessions.core.errors import Forbidden

ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"  # a backend acting for the users of its tenant (user_id on each request)


@dataclass(frozen=True)
class Identity:
    """Who calls (`principal`, the token's sub) and whose sessions the call touches (`user_id`).

    They differ only for a `service` caller acting for a user of its tenant, or an admin reading
    another user's sessions (acting_for). The tenant is always the caller's own.
    """

    tenant_id: str
    user_id: str
    roles: frozenset[str] = frozenset()
    principal: str = ""  # empty: the caller acts as itself (principal = user_id)

    def __post_init__(self) -> None:
        if not self.principal:
            object.__setattr__(self, "principal", self.user_id)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles


def acting_for(identity: Identity, user_id: str | None, *, reading: bool) -> Identity:
    """The identity a request naming `user_id` acts as; Forbidden when the caller may not.

    A `service` caller acts as any user of its own tenant, for reads and writes. Anyone may name
    themselves. An admin may name another user to read (read, list, history, stats), never to
    write. Everyone else naming another user is refused, before anything is looked up.
    """
    if user_id is None or user_id == identity.principal:
        return identity if identity.user_id == identity.principal else replace(identity, user_id=identity.principal)
    if not (identity.is_service or (reading and identity.is_admin)):
        if identity.is_admin:
            raise Forbidden(
                "an admin may read another user's sessions, not change them; acting for users needs the service role"
            )
        raise Forbidden("acting for another user needs the service role")
    return replace(identity, user_id=user_id)
