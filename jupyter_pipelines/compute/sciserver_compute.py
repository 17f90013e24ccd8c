"""``sciserver-compute``: each job as a SciServer Compute docker job, over RACM's jobm REST API.

For each job the backend

1. writes the job spec **without secrets** to ``{jobs_folder}/{execution}/{node}-{id}/spec.json``
   through the Files API (``jobs_folder`` defaults to ``.jupyter-pipelines-jobs`` in the
   execution's storage volume);
2. submits ``POST {racm_url}/jobm/rest/jobs/docker`` (``X-Auth-Token``) with
   ``{"command", "dockerComputeEndpoint", "dockerImageName", "resultsFolderURI",
   "submitterDID", "volumeContainers", "userVolumes": [{"userVolumeId", "needsWriteAccess"}]}``
   — the domain's endpoint, image and user-volume ids come from
   ``GET {racm_url}/jobm/rest/computedomains?batch=true``. The command is
   ``python3 -m jupyter_pipelines.runner --spec <spec.json> --result <result.json> --fs <json>``,
   both files reached through the Files API from inside the container (so the image needs
   jupyter_pipelines installed); the results folder is the job's folder;
3. polls ``GET {racm_url}/jobm/rest/jobs/{id}`` every ``poll_interval`` seconds (1/2/4 queued,
   8/16 running, 32 success, 64 error, 128 canceled), appending the new part of the results
   folder's ``stdout.txt`` to the job's log (a GET of the whole file each time — the Files API
   has no Range requests — keeping the offset), and fetches it once more at the end;
4. reads ``result.json`` (the outputs, or the error and traceback) from the job's folder.

Cancel is ``POST {racm_url}/jobm/rest/jobs/{id}/cancel`` (or dropping a job not yet submitted).

Credentials. SciServer docker jobs have no stdin and their command is visible to the user's
job list, so no secret goes into the command or into the spec file. Inside the container the
job authenticates to the Files API with the token SciServer gives every job
(``token_file``, default ``/home/idies/keystone.token``): the execution's storage and
``sciserver-files`` input artifacts are read and written **as the compute user** (their own
token/password are dropped from the spec). Storage and inputs that would need other
secrets (``s3`` keys, …) are refused with a clear message, and so are ``memory`` and ``local``
storage (the container cannot see the engine's memory or disks).
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import requests

from ..errors import BadRequest
from ..fields import Field
from ..paths import Context
from ..runner.contracts import JobOutcome, StorageSpec
from ..runner.job import open_nofollow
from ..runner.process import exit_code
from ..runner.secrets import looks_secret
from ..storage.sciserver_fs import DEFAULT_FILES_URL, DEFAULT_LOGIN_URL, SciServerFilesFileSystem
from .base import ComputeBackend, Job, JobCallbacks, JobHandle, JobResult, canceled, failed, job_result
from .plumbing.threads import JobThreads

DEFAULT_RACM_URL = "https://apps.sciserver.org/racm"
CONTAINER_WORKSPACE = "/home/idies/workspace/"
QUEUED, RUNNING, SUCCESS, ERROR, CANCELED = (1, 2, 4), (8, 16), 32, 64, 128
FINAL = (SUCCESS, ERROR, CANCELED)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _secret_options(options: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in options.items() if looks_secret(k) and v not in (None, "") and k != "token_file")


class SciServerJob:
    def __init__(self, backend: SciServerCompute, job: Job, callbacks: JobCallbacks) -> None:
        self.backend = backend
        self.job = job
        self.callbacks = callbacks
        self.canceled = threading.Event()
        self.job_id: int | None = None
        self.offset = 0

    def cancel(self) -> None:
        self.canceled.set()

    # -- the job's thread
    def run(self) -> None:
        try:
            result = self._run()
        except BadRequest as error:
            result = failed(str(error))
        except Exception as error:  # noqa: BLE001 - the engine must always hear the end
            if self.job_id is not None and self.canceled.is_set():
                result = canceled()
            else:
                result = failed(f"SciServer Compute: {type(error).__name__}: {error}")
        self.callbacks.finished(result)

    def _run(self) -> JobResult:
        backend = self.backend
        if self.canceled.is_set():
            return canceled()
        spec = backend.container_spec(self.job.spec)
        folder = backend.job_folder(self.job, spec)
        backend.fs.pipe_file(f"{folder}/spec.json", json.dumps(spec).encode())
        if self.canceled.is_set():
            return canceled()
        description = backend.submit_docker_job(self.job, folder)
        self.job_id = int(description["id"])
        results = backend.results_folder(description, folder)
        started = False
        cancel_sent = False
        while True:
            if self.canceled.is_set() and not cancel_sent:
                backend.racm("POST", f"jobs/{self.job_id}/cancel")
                cancel_sent = True
            status = int(backend.racm("GET", f"jobs/{self.job_id}").get("status", 0))
            if not started and (status in RUNNING or status in FINAL):
                started = True
                self.callbacks.started(None, None)
            if status in RUNNING or status in FINAL:
                self._stream_log(f"{results}/stdout.txt")
            if status in FINAL:
                break
            self.canceled.wait(backend.config["poll_interval"])
        self._stream_log(f"{results}/stdout.txt")
        if status == CANCELED or self.canceled.is_set():
            return canceled()
        outcome = self._result(f"{folder}/result.json")
        if status != SUCCESS and outcome is not None and outcome["status"] == "success":
            outcome = None  # the container's end says otherwise
        tail = "" if outcome is not None else self._stderr_tail(f"{results}/stderr.txt")
        return job_result(outcome, None if outcome is None else exit_code(outcome),
                          lost=f"the SciServer Compute job {self.job_id} ended with status "
                               f"{'error' if status == ERROR else status} without reporting a result{tail}")

    def _stream_log(self, path: str) -> None:
        try:
            data = self.backend.fs.cat_file(path)
        except (FileNotFoundError, OSError):
            return
        if len(data) > self.offset:
            with open_nofollow(self.job.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND) as log:
                log.write(data[self.offset:])
            self.offset = len(data)

    def _result(self, path: str) -> JobOutcome | None:
        """The outcome the container's runner wrote (see ``runner.__main__``), if it wrote one."""
        try:
            outcome = json.loads(self.backend.fs.cat_file(path))
        except (FileNotFoundError, OSError, ValueError):
            return None
        if isinstance(outcome, dict) and outcome.get("status") in ("success", "failed"):
            return cast("JobOutcome", outcome)
        return None

    def _stderr_tail(self, path: str) -> str:
        try:
            text = self.backend.fs.cat_file(path).decode("utf-8", "replace").strip()
        except (FileNotFoundError, OSError):
            return ""
        return f": {text[-500:]}" if text else ""


class SciServerCompute(ComputeBackend):
    name = "sciserver-compute"
    title = "SciServer Compute"
    description = "Each operation as a SciServer Compute docker job (RACM jobm API); data on SciServer Files."
    fields = (
        Field("racm_url", "str", DEFAULT_RACM_URL, "Base URL of SciServer's RACM service"),
        Field("files_url", "str", DEFAULT_FILES_URL, "Base URL of the SciServer file service"),
        Field("login_url", "str", DEFAULT_LOGIN_URL, "SciServer login portal (for username/password)"),
        Field("username", "str", None, "SciServer user name (or give a token)"),
        Field("password", "str", None, "SciServer password", secret=True),
        Field("token", "str", None, "SciServer token (X-Auth-Token)", secret=True),
        Field("domain", "str", "", "Compute domain name (or its API endpoint URL); empty: the first one"),
        Field("image", "str", "", "Docker image name; empty: the domain's first image"),
        Field("volumes", "str", "", "User volumes to mount, comma-separated (name or rootVolume/owner/name); "
              "empty: all the domain offers"),
        Field("jobs_folder", "str", "", "Files path for the jobs' folders (rootVolume/owner/volume/...); "
              "empty: .jupyter-pipelines-jobs in the execution's storage volume"),
        Field("python", "str", "python3", "Python command in the image (jupyter_pipelines must be installed)"),
        Field("token_file", "str", "/home/idies/keystone.token", "Where a job finds its SciServer token"),
        Field("poll_interval", "float", 2.0, "Seconds between status polls of a running job", minimum=0.01),
    )

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        super().__init__(config, context)
        if not (self.config["token"] or (self.config["username"] and self.config["password"])):
            raise BadRequest("compute backend 'sciserver-compute' needs a token, or a username and a password")
        self.fs = SciServerFilesFileSystem(files_url=self.config["files_url"], token=self.config["token"],
                                           username=self.config["username"], password=self.config["password"],
                                           login_url=self.config["login_url"], skip_instance_cache=True)
        self.session = requests.Session()
        self.threads = JobThreads(64, "sciserver-job")
        self._domain: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- checks and specs
    def check_storage(self, spec: StorageSpec, what: str = "the execution's storage") -> None:
        protocol = spec.get("protocol")
        if protocol in ("memory", "file", "local"):
            raise BadRequest(f"the sciserver-compute backend cannot use {what}: {protocol!r} storage is not "
                             "reachable from a SciServer Compute container; use 'sciserver-files'")
        if protocol != "sciserver":
            secrets = _secret_options(dict(spec.get("options") or {}))
            if secrets:
                raise BadRequest(f"the sciserver-compute backend cannot use {what}: it needs credentials "
                                 f"({', '.join(secrets)}) and SciServer jobs cannot receive secrets; jobs "
                                 "authenticate with their own SciServer token, so use 'sciserver-files'")

    def _container_fs(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        options = dict(spec.get("options") or {})
        if spec.get("protocol") != "sciserver":
            return {"protocol": spec["protocol"], "options": options}
        return {"protocol": "sciserver", "options": {
            "files_url": options.get("files_url") or self.config["files_url"], "token_file": self.config["token_file"]}}

    def container_spec(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The job spec as the container gets it: no secrets, SciServer access through the job's token."""
        self.check_storage(spec["storage"])
        clean = dict(spec)
        clean["storage"] = self._container_fs(spec["storage"])
        artifact = spec.get("artifact")
        if spec.get("kind") == "input" and artifact and artifact.get("protocol"):
            self.check_storage(artifact, f"input artifact {artifact.get('name')!r}")
            clean["artifact"] = {**artifact, **self._container_fs(artifact)}
        return clean

    def job_folder(self, job: Job, spec: Mapping[str, Any]) -> str:
        base = (self.config["jobs_folder"] or "").strip("/")
        if not base:
            sample = next(iter(spec.get("outputs", {}).values()), "") or (spec.get("artifact") or {}).get("path", "")
            volume = "/".join(sample.strip("/").split("/")[:3])
            if volume.count("/") != 2:
                raise BadRequest("sciserver-compute: set 'jobs_folder' (rootVolume/owner/volume/...) for the jobs")
            base = f"{volume}/.jupyter-pipelines-jobs"
        return f"{base}/{_SAFE.sub('_', job.execution)}/{_SAFE.sub('_', job.node)}-{uuid.uuid4().hex[:10]}"

    # -- RACM
    def racm(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.config['racm_url'].rstrip('/')}/jobm/rest/{path}"
        for attempt in (0, 1):
            response = self.session.request(method, url, json=body, timeout=(30, 120),
                                            headers={"X-Auth-Token": self.fs.token or "",
                                                     "Content-Type": "application/json"})
            if response.status_code == 401 and attempt == 0 and self.config["username"] and self.config["password"]:
                self.fs.login()
                continue
            break
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{method} jobm/rest/{path.split('?')[0]} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response.json() if response.content else {}

    def domain(self) -> dict[str, Any]:
        with self._lock:
            if self._domain is None:
                domains = self.racm("GET", "computedomains?batch=true&interactive=false")
                wanted = (self.config["domain"] or "").strip()
                chosen = next((d for d in domains if not wanted or wanted in (d.get("name"), d.get("apiEndpoint"))),
                              None)
                if chosen is None:
                    raise BadRequest(f"SciServer compute domain {wanted!r} is not available; available: "
                                     f"{[d.get('name') for d in domains]}")
                self._domain = chosen
            return self._domain

    def submit_docker_job(self, job: Job, folder: str) -> dict[str, Any]:
        domain = self.domain()
        images = [image.get("name") for image in domain.get("images") or []]
        image = self.config["image"] or (images[0] if images else "")
        if image not in images:
            raise BadRequest(f"image {image!r} is not offered by compute domain {domain.get('name')!r}: {images}")
        wanted = [v.strip() for v in (self.config["volumes"] or "").split(",") if v.strip()]
        volumes = []
        for volume in domain.get("userVolumes") or []:
            full = f"{volume.get('rootVolumeName')}/{volume.get('owner')}/{volume.get('name')}"
            if wanted and volume.get("name") not in wanted and full not in wanted:
                continue
            volumes.append({"userVolumeId": volume.get("id"),
                            "needsWriteAccess": "write" in (volume.get("allowedActions") or [])})
        fs = json.dumps({"protocol": "sciserver", "options": {"files_url": self.config["files_url"],
                                                              "token_file": self.config["token_file"]}})
        command = " ".join([self.config["python"], "-m", "jupyter_pipelines.runner",
                            "--spec", shlex.quote(f"{folder}/spec.json"),
                            "--result", shlex.quote(f"{folder}/result.json"), "--fs", shlex.quote(fs)])
        body = {"command": command, "dockerComputeEndpoint": domain.get("apiEndpoint"), "dockerImageName": image,
                "resultsFolderURI": CONTAINER_WORKSPACE + folder + "/",
                "submitterDID": f"jupyter-pipelines {job.execution}/{job.node}",
                "volumeContainers": [], "userVolumes": volumes}
        description: dict[str, Any] = self.racm("POST", "jobs/docker?TaskName=jupyter_pipelines.compute.sciserver_compute",
                                                body)
        return description

    @staticmethod
    def results_folder(description: Mapping[str, Any], folder: str) -> str:
        uri = str(description.get("resultsFolderURI") or "")
        if uri.startswith(CONTAINER_WORKSPACE):
            return posixpath.normpath(uri[len(CONTAINER_WORKSPACE):])
        return folder

    # -- engine API
    def submit(self, job: Job, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> SciServerJob:
        handle = SciServerJob(self, job, callbacks)
        self.threads.start(handle)
        return handle

    def close(self) -> None:
        self.threads.close(cancel_queued=False)
