"""Errors a user can act on.

Every error raised for bad input is a :class:`RankexpError`; the entry points
catch it and print its message without a traceback, so the message must say
what was wrong, where (file, line, config key) and how to fix it.
"""

from __future__ import annotations


class RankexpError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class DataError(RankexpError):
    """A dataset file is missing, corrupt or malformed."""


class ConfigError(RankexpError):
    """A config value is out of range or names something unknown."""


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...], key: str) -> ConfigError:
    """Build the error for an unknown registry name, listing the known ones."""
    return ConfigError(
        f"unknown {kind} {name!r} (config key `{key}`); known: {', '.join(sorted(known))}"
    )
