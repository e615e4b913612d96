"""The error every layer raises for bad input (the command line turns it into exit code 2)."""

from __future__ import annotations

__all__ = ["SpecError"]


class SpecError(ValueError):
    """Bad input: the message is one line naming the file, the field and what was expected."""
