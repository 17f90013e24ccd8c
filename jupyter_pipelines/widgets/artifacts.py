"""Where the dialogs learn an Input artifact's storage backend (to ask for its credentials)."""
from __future__ import annotations

from typing import Any

import requests

from ..client import Api
from ..errors import PipelinesError


def artifact_record(api: Api, project: str, name: str) -> dict[str, Any] | None:
    """The registered artifact's record (``backend``, public ``config``, …), or None when unknown.

    Unknown here means no credentials group: Run and Export then report the problem themselves.
    """
    try:
        return dict(api.artifact(project, name))
    except (PipelinesError, requests.RequestException):
        return None
