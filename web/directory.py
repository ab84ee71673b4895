"""The department directory as the API and the dashboard read it: the projections' read model
(projections/directory.py), read at most once per request, so a DepartmentChanged shows in the
next answer, and no page reads policies/departments.toml."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Callable

from fastapi import FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError

from projections import directory
from projections.directory import Listed


class _OnFirstUse:
    def __init__(self, read: Callable[[], dict[str, Listed]]):
        self.read, self.found = read, None

    def get(self) -> dict[str, Listed]:
        if self.found is None:
            self.found = self.read()
        return self.found


_current: ContextVar[_OnFirstUse | None] = ContextVar("govshare_directory", default=None)


def current() -> dict[str, Listed]:
    """Every department as the directory lists it, by id (none outside a request)."""
    found = _current.get()
    return found.get() if found is not None else {}


def install(app: FastAPI) -> None:
    def read() -> dict[str, Listed]:
        try:
            with app.state.projections().connect() as conn:
                return directory.listed(conn)
        except SQLAlchemyError:  # no projections yet (before the first `govshare up`): nobody is listed
            return {}

    @app.middleware("http")
    async def _per_request(request: Request, call_next):
        token = _current.set(_OnFirstUse(read))
        try:
            return await call_next(request)
        finally:
            _current.reset(token)
