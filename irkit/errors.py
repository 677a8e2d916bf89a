"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations


class IrkitError(Exception):
    """A failure the user can act on: bad usage or unreadable input (exit 2 by default).

    The message must be one line and name the file or argument at fault.
    """

    exit_code = 2


class InputFormatError(IrkitError):
    """A file is in no known format, or cannot be read at all."""


class CheckFailed(IrkitError):
    """A check found a problem (``irkit verify``): exit 1."""

    exit_code = 1
