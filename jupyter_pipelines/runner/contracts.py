"""What crosses a process boundary between the engine and a job: the job's spec, the storage it uses,
what it wrote, and how it ended.

Standard library only (Python 3.10: optional keys are the ``total=False`` halves): shipped in
exports' ``runtime/`` with the runner.
"""
from __future__ import annotations

from typing import Any, Literal, TypedDict


class StorageSpec(TypedDict):
    """How a job opens a filesystem: an fsspec protocol and its options (they may hold secrets)."""

    protocol: str
    options: dict[str, Any]


class _Artifact(TypedDict):
    name: str
    backend: str
    path: str


class ArtifactSpec(_Artifact, total=False):
    """An artifact a job reads (an Input: on its own storage, which ``protocol`` and ``options``
    open) or writes (an Output: in the execution's storage)."""

    protocol: str
    options: dict[str, Any]
    type: str


class _Job(TypedDict):
    node: str
    kind: Literal["operation", "input", "output"]
    storage: StorageSpec
    inputs: dict[str, str]  # input name -> location in the storage
    outputs: dict[str, str]  # output name -> location in the storage


class JobSpec(_Job, total=False):
    """One job: which node, what it runs, where its data is."""

    function: str  # operations: the function's name in ``source``
    source: str  # operations: the captured, self-contained source
    filename: str  # operations: the file ``source`` was read from, for tracebacks (exports)
    attributes: dict[str, Any]  # operations: the values of its attributes
    figures: str  # operations: the folder the figures it draws go to
    artifact: ArtifactSpec  # inputs and outputs
    memory_files: dict[str, bytes]  # ``memory`` storage: the files the job reads, carried along


class _Output(TypedDict):
    name: str
    location: str
    type: str
    size: int


class OutputRef(_Output, total=False):
    """An output a job wrote: where, of what type and size, and its preview (see ``previews``)."""

    preview: dict[str, Any]


class FigureRef(TypedDict):
    """A figure an operation drew, saved as an image in the storage."""

    index: int
    mime: str
    location: str


class _Written(TypedDict):
    outputs: list[OutputRef]


class Written(_Written, total=False):
    """What one job wrote."""

    figures: list[FigureRef]


class _Outcome(TypedDict):
    status: Literal["success", "failed"]


class JobOutcome(_Outcome, total=False):
    """How a job ended, as its process reports it (the same from every way a job runs)."""

    outputs: list[OutputRef]
    figures: list[FigureRef]
    seconds: float
    error: str
    traceback: str
    memory_files: dict[str, bytes]  # ``memory`` storage: the files it wrote, carried back
