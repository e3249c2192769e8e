"""Exceptions a user can cause. Each message says what was expected and what was found.

All derive from ``M2PTError`` (and ``ValueError``), so the app and the CLI can catch one type,
show the message and keep serving.
"""
from __future__ import annotations


class M2PTError(ValueError):
    """Base class of every error a user can cause with their input."""


class InputFileError(M2PTError):
    """A file (upload, dataset item, sample) cannot be read as the modality asked for."""


class PathwayMismatchError(M2PTError):
    """Target and auxiliary weights cannot be paired; the message lists every mismatch."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"Cannot attach pathways: {len(self.problems)} problem(s) found; the model was not changed.\n{lines}"
        )


class CheckpointError(M2PTError):
    """A checkpoint or auxiliary-weight source is missing, unsafe, corrupt or unrecognised."""


class ResumeError(M2PTError):
    """A run cannot be resumed as asked (its recipe changed in a way that cannot be applied)."""
