"""The request an action happens in, for the audit log: request id and client address.

Set by `RequestContextMiddleware`; commands and jobs run without one."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_addr: str


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("jingwu_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def bind(ctx: RequestContext | None) -> contextvars.Token[RequestContext | None]:
    return _current.set(ctx)


def unbind(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)
