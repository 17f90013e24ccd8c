"""``s3``: an S3 bucket (AWS or any S3-compatible endpoint) through s3fs."""
from __future__ import annotations

from typing import Any

from ..fields import Field
from ..runner.contracts import StorageSpec
from .base import StorageBackend


class S3Storage(StorageBackend):
    """Without ``key`` and ``secret`` s3fs looks for credentials the usual AWS way (environment
    variables of the process that reads, ``~/.aws``, instance roles). The access key id is marked
    secret too: it names an account's credential, so it is never stored, saved or returned.
    """

    name = "s3"
    title = "Amazon S3 (or compatible)"
    description = "A bucket on S3 or an S3-compatible service (MinIO, Ceph, …)."
    requires = ("s3fs",)
    install = "pip install 'jupyter_pipelines[s3]'"
    fields = (
        Field("bucket", "str", None, "Bucket name", required=True),
        Field("prefix", "str", "pipelines", "Key prefix inside the bucket"),
        Field("endpoint_url", "str", None, "Endpoint URL for S3-compatible services; empty for AWS"),
        Field("region", "str", None, "Region name, e.g. us-east-1"),
        Field("key", "str", None, "Access key id (kept in memory only, like the secret)", secret=True),
        Field("secret", "str", None, "Secret access key", secret=True),
        Field("token", "str", None, "Session token, for temporary credentials", secret=True),
    )

    def root(self) -> str:
        prefix = (self.config["prefix"] or "").strip("/")
        return f"{self.config['bucket']}/{prefix}" if prefix else self.config["bucket"]

    def spec(self) -> StorageSpec:
        client: dict[str, Any] = {}
        if self.config["endpoint_url"]:
            client["endpoint_url"] = self.config["endpoint_url"]
        if self.config["region"]:
            client["region_name"] = self.config["region"]
        options: dict[str, Any] = {"client_kwargs": client, "skip_instance_cache": True}
        if self.config["key"] or self.config["secret"]:
            options.update(key=self.config["key"], secret=self.config["secret"])
        if self.config["token"]:
            options["token"] = self.config["token"]
        return {"protocol": "s3", "options": options}
