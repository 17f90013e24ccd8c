"""Errors that reach users, each with the HTTP status the REST API answers with."""
from __future__ import annotations


class PipelinesError(Exception):
    """Base of the errors whose message is meant for the user."""

    status = 400


class BadRequest(PipelinesError, ValueError):
    """The request names something invalid (a field, a backend, a name, a pipeline)."""


class NotFound(PipelinesError, LookupError):
    """The execution, tag, operation or export does not exist."""

    status = 404


class Conflict(PipelinesError):
    """The request does not fit the current state (e.g. editing a non-debug execution)."""

    status = 409
