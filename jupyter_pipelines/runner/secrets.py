"""Which names hold secrets: the one definition used by the runner (redacting messages), the backends
(options not to write down), the export (credentials read from the environment) and the forms.

Standard library only: it is shipped in exports' ``runtime/``.
"""
from __future__ import annotations

#: Words that make an option or field name a secret (its value is never shown or stored).
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "sas", "auth", "session",
                "connection_string")
#: Names of fields that identify an account: not secret alone, but part of its credentials.
ACCOUNT_NAMES = frozenset({"user", "username", "account_name", "client_id"})
#: Credentials that complete others when present (a session token) rather than being needed on their own.
OPTIONAL_CREDENTIALS = frozenset({"token", "session_token", "sas_token"})


def looks_secret(name: str) -> bool:
    """True for an option name whose value is a secret (``secret_access_key``, ``api_token``, …); not for
    one that says where a secret is (``token_file``)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS) and not lowered.endswith(("_file", "_path"))


def is_credential(name: str, declared_secret: bool = False) -> bool:
    """True for a backend field that is part of an account's credentials: declared secret, named like a
    secret, or naming the account."""
    return declared_secret or looks_secret(name) or name.lower() in ACCOUNT_NAMES
