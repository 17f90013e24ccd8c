"""A moto S3 server on loopback for the tests, with two "accounts" whose keys differ.

Import its fixtures in a test module (``from s3_server import s3_accounts, s3_server``) or use
``MotoS3`` directly. One ``ThreadedMotoServer(ip_address="127.0.0.1", port=<free>)`` runs per test
session (as s3fs's own tests do), in a thread of the test process.

How two accounts are simulated: moto accepts any credentials by default. With the
``s3_accounts`` fixture it runs with moto's IAM authentication switched on
(``POST /moto-api/reset-auth`` with ``0``, the server-mode equivalent of
``moto.core.set_initial_no_auth_action_count(0)``): every request must then
be signed with an access key that exists in moto's IAM, with the right secret, and the IAM user's
be signed with an access key that exists in moto's IAM, with the right secret, and the IAM user's
policy must allow the action on the resource. Each simulated account is an IAM user with its own
access key and a policy that allows ``s3:*`` on its own bucket only, so

* the right key and secret read and write their bucket;
* a wrong secret fails (``SignatureDoesNotMatch``), an unknown key fails (``InvalidAccessKeyId``);
* one account's keys on the other account's bucket fail (``AccessDenied``).

An ``admin`` user (``s3:*`` on everything) is used to create buckets and by the generic tests.
All users live in moto's single default AWS account (123456789012): the separation is by IAM
policy, which is what distinct credentials mean to a client.
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import pytest
import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Account:
    """One simulated account: an IAM user whose keys reach only ``bucket``."""

    user: str
    key: str
    secret: str
    bucket: str

    @property
    def credentials(self) -> dict[str, str]:
        return {"key": self.key, "secret": self.secret}


@dataclass
class MotoS3:
    endpoint: str
    admin: S3Account
    accounts: dict[str, S3Account] = field(default_factory=dict)
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def storage_config(self, account: S3Account | None = None, prefix: str = "", **extra: Any) -> dict[str, Any]:
        """A complete ``s3`` storage config (secrets included) for ``account`` (default: admin)."""
        account = account or self.admin
        return {"bucket": account.bucket, "prefix": prefix or f"t-{uuid.uuid4().hex[:8]}",
                "endpoint_url": self.endpoint, "region": "us-east-1", **account.credentials, **extra}

    def filesystem(self, account: S3Account | None = None) -> Any:
        import s3fs

        account = account or self.admin
        return s3fs.S3FileSystem(key=account.key, secret=account.secret, skip_instance_cache=True,
                                 client_kwargs={"endpoint_url": self.endpoint, "region_name": "us-east-1"})

    @contextlib.contextmanager
    def authentication(self, on: bool = True) -> Iterator[None]:
        """Switch moto's authentication on (or off) for a block; it is off otherwise.

        Moto keeps this setting per process, for every moto server in it: leaving it on would
        make other tests' moto servers (which accept any key) refuse their requests.
        """
        self._set_auth(on)
        try:
            yield
        finally:
            self._set_auth(False)

    def _set_auth(self, on: bool) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0" if on else b"inf",
                      timeout=10).raise_for_status()

    def new_bucket(self) -> str:
        """A fresh bucket, created by the admin (only the admin's keys reach it)."""
        name = f"bucket-{uuid.uuid4().hex[:12]}"
        _boto(self.endpoint, self.admin.key, self.admin.secret).create_bucket(Bucket=name)
        return name


def _boto(endpoint: str, key: str = "setup", secret: str = "setup", service: str = "s3") -> Any:
    from botocore.session import Session

    return Session().create_client(service, endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id=key, aws_secret_access_key=secret)


def _add_user(iam: Any, name: str, resources: list[str]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": resources}]}
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-s3", PolicyDocument=json.dumps(policy))
    created = iam.create_access_key(UserName=name)["AccessKey"]
    return created["AccessKeyId"], created["SecretAccessKey"]


def _patch_moto_query_signing() -> None:
    """Work around moto 5 checking signatures against the *decoded* query string.

    With moto's authentication on, signed requests whose URL holds characters that SigV4
    encodes (``delimiter=/`` in every s3fs listing, ``+`` or ``=`` in a key) fail with
    ``SignatureDoesNotMatch``: moto recomputes the signature from an already-decoded URL, while
    botocore's canonical request expects it encoded. Re-encode the path and each query key and
    value the way SigV4 does before moto computes it (the server runs in this process).
    """
    from moto.iam import access_control

    base = access_control.IAMRequestBase
    if getattr(base, "_jp_query_patch", False):
        return
    original = base._create_aws_request

    def create_aws_request(self: Any) -> Any:
        path, sep, query = self._path.partition("?")
        path = quote(unquote(path), safe="/~")
        self._path = path + sep + query
        if sep:
            pairs = []
            for pair in query.split("&"):
                key, eq, value = pair.partition("=")
                pairs.append(quote(unquote(key), safe="-_.~") + eq + quote(unquote(value), safe="-_.~"))
            self._path = path + "?" + "&".join(pairs)
        return original(self)

    base._create_aws_request = create_aws_request
    base._jp_query_patch = True


_running: MotoS3 | None = None


def start_moto() -> MotoS3:
    """Start the server (once per process: the fixture may be imported by several test modules)."""
    global _running
    if _running is not None:
        return _running
    from moto.server import ThreadedMotoServer

    _patch_moto_query_signing()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # set-up runs unauthenticated (moto's default), then authentication is switched on
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    iam = _boto(endpoint, service="iam")
    s3 = _boto(endpoint)
    admin_key, admin_secret = _add_user(iam, "admin", ["*"])
    accounts = {}
    for user in ("alice", "bob"):
        bucket = f"{user}-bucket"
        s3.create_bucket(Bucket=bucket)
        key, secret = _add_user(iam, user, [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
        accounts[user] = S3Account(user, key, secret, bucket)
    s3.create_bucket(Bucket="admin-bucket")
    _running = MotoS3(endpoint, S3Account("admin", admin_key, admin_secret, "admin-bucket"), accounts, server)
    return _running


def stop_moto(moto: MotoS3) -> None:
    global _running
    if _running is not moto:
        return
    _running = None
    try:
        requests.post(f"{moto.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    finally:
        moto._server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    """The session's moto S3 server, with the users and buckets of the module docstring.

    Authentication is off (moto's default): any key works. Use ``s3_accounts`` to have the keys
    of each account checked.
    """
    moto = start_moto()
    try:
        yield moto
    finally:
        stop_moto(moto)


@pytest.fixture
def s3_accounts(s3_server: MotoS3) -> Iterator[MotoS3]:
    """The session's moto server with authentication on for the test: each account's keys reach
    its own bucket only, and wrong or unknown keys fail."""
    with s3_server.authentication(True):
        yield s3_server
