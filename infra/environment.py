"""Reading GOVSHARE_* variables: each parser checks one kind of value and, when it is wrong,
raises SettingError naming the variable, the value and what is wrong, which the CLI prints as
one line (`govshare: GOVSHARE_PARTITIONS=three: not a whole number`) and exits 2. An operator
who mistyped a setting gets a sentence at start-up, not a traceback from deep inside a stage."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingError(ValueError):
    """A setting whose value cannot be used."""

    def __init__(self, name: str, value: str, problem: str):
        super().__init__(f"{name}={value}: {problem}")
        self.name, self.value, self.problem = name, value, problem


def raw(name: str, default: str | None = None) -> str | None:
    """The variable as set; an empty one counts as unset (compose files leave them empty)."""
    return os.environ.get(name) or default


def number(name: str, default: str, kind: Callable[[str], T] = int, *, minimum: float = 1) -> T:
    """A whole (kind=int) or decimal (kind=float) number of at least `minimum`."""
    text = raw(name, default)
    try:
        value = kind(text)
    except ValueError:
        raise SettingError(name, text, "not a whole number" if kind is int else "not a number") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan or infinite
        raise SettingError(name, text, "not a finite number")
    if value < minimum:
        raise SettingError(name, text, f"must be at least {minimum:g}")
    return value


def directory(name: str, default: str) -> Path:
    """A directory govshare creates if missing; something else already there is refused."""
    path = Path(raw(name, default))
    if path.exists() and not path.is_dir():
        raise SettingError(name, str(path), "exists and is not a directory")
    return path


def file_path(name: str, *, must_exist: bool) -> Path | None:
    """A file: one to read (must exist), or one govshare creates (its place must not be a
    directory)."""
    text = raw(name)
    if text is None:
        return None
    path = Path(text)
    if path.is_dir():
        raise SettingError(name, text, "is a directory, not a file")
    if must_exist and not path.is_file():
        raise SettingError(name, text, "no such file")
    return path


def database_url(name: str) -> str | None:
    """A SQLAlchemy URL govshare can open: SQLite or PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    text = raw(name)
    if text is None:
        return None
    try:
        backend = make_url(text).get_backend_name()
    except ArgumentError:
        raise SettingError(name, text, "not a database URL (sqlite:///FILE or "
                                       "postgresql+psycopg://USER@HOST/DATABASE)") from None
    if backend not in ("sqlite", "postgresql"):
        raise SettingError(name, text, f"{backend} is not supported: use SQLite or PostgreSQL")
    return text


def bootstrap_servers(name: str) -> str | None:
    """host:port[,host:port...], each port a TCP port."""
    text = raw(name)
    if text is None:
        return None
    for server in text.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not colon or not host:
            raise SettingError(name, text, f"{server.strip() or 'an empty entry'} is not host:port")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingError(name, text, f"{port or 'an empty port'} is not a TCP port (1-65535)")
    return text


def clock(name: str) -> str:
    """`system`, or `file:PATH` (the file may appear later: a drill writes it before time moves)."""
    text = raw(name, "system")
    if text == "system" or (text.startswith("file:") and len(text) > len("file:")):
        if text.startswith("file:") and Path(text[len("file:"):]).is_dir():
            raise SettingError(name, text, "names a directory, not a file")
        return text
    raise SettingError(name, text, "use system or file:PATH")


def choice(name: str, default: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
    text = raw(name, default)
    value = text.upper() if upper else text.lower()
    if value not in choices:
        raise SettingError(name, text, f"use one of {', '.join(choices)}")
    return value


def callables(name: str) -> tuple[str, ...]:
    """module:function names, comma-separated (loaded by the stage that calls them)."""
    names = tuple(n.strip() for n in (raw(name) or "").split(",") if n.strip())
    for spec in names:
        module, colon, function = spec.partition(":")
        if not (module and colon and function.isidentifier()):
            raise SettingError(name, raw(name), f"{spec} is not module:function")
    return names


def log_level(name: str) -> int:
    return logging.getLevelName(choice(name, "INFO", LOG_LEVELS, upper=True))


def port(name: str, default: str) -> int:
    """A TCP port to listen on (0: any free one, the system picks)."""
    text = raw(name, default)
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise SettingError(name, text, "not a TCP port (0-65535)")
    return int(text)


def host(name: str, default: str) -> str:
    """An address to listen on: a host name or an IP address, nothing else."""
    text = raw(name, default)
    if any(c.isspace() or c in "/@?#" for c in text):
        raise SettingError(name, text, "not a host name or IP address to listen on")
    return text
