"""``sciserver-files``: a SciServer user volume, over the SciServer Files REST API."""
from __future__ import annotations

from ..fields import Field
from ..runner.contracts import StorageSpec
from .base import StorageBackend
from .sciserver_fs import DEFAULT_FILES_URL, DEFAULT_LOGIN_URL


class SciServerFilesStorage(StorageBackend):
    name = "sciserver-files"
    title = "SciServer Files"
    description = "A SciServer user volume (Storage/<user>/<volume>/…), reached through the Files API."
    fields = (
        Field("volume", "str", None, "Folder on SciServer: Storage/<user>/<volume>[/sub/folder]", required=True),
        Field("files_url", "str", DEFAULT_FILES_URL, "Base URL of the SciServer file service"),
        Field("login_url", "str", DEFAULT_LOGIN_URL, "SciServer login portal (for username/password)"),
        Field("username", "str", None, "SciServer user name (or give a token)"),
        Field("password", "str", None, "SciServer password", secret=True),
        Field("token", "str", None, "SciServer token (X-Auth-Token)", secret=True),
    )

    def root(self) -> str:
        return str(self.config["volume"]).strip("/")

    def spec(self) -> StorageSpec:
        options = {key: self.config[key] for key in ("files_url", "login_url", "username", "password", "token")
                   if self.config[key]}
        return {"protocol": "sciserver", "options": options}
