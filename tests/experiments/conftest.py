"""Fixtures of the experiment tests (defined in `_helpers.py`, shared with `tests/commands`)."""

from tests.experiments._helpers import trained  # noqa: F401
