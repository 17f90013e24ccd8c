"""Build the export zip of a pipeline: ``python main.py`` runs it without jupyter_pipelines.

Layout (DESIGN.md, "Export zip")::

    main.py  pipeline.json  operations/<key>.py  runtime/  artifacts/  requirements.txt  README.md

The zip is deterministic: entries sorted by name, fixed timestamps and permissions, JSON with
sorted keys — the same pipeline exported twice gives byte-identical files.
"""
from __future__ import annotations

import ast
import importlib.resources
import inspect
import json
import os
import shlex
import shutil
import string
import sys
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

import fsspec

from .._version import __version__
from ..paths import Context
from ..pipeline import Pipeline, PipelineError
from ..store import ArtifactRecord
from .artifacts import ExportError, InputPlan, open_artifact, plan_inputs, safe_file_name
from .requirements import PROTOCOL_TO_DISTRIBUTION, imported_modules, requirements_text

EXPORT_FORMAT = 1
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
#: The runner modules copied into ``runtime/``; they may import only the stdlib, fsspec and each other.
RUNTIME_MODULES = ("__init__.py", "job.py", "serialize.py", "secrets.py", "contracts.py", "previews.py", "figures.py")
RUNTIME_ALLOWED = frozenset({"fsspec"})
COPY_CHUNK = 8 << 20


# -- pieces -------------------------------------------------------------------------------------------
def _template(name: str) -> str:
    return importlib.resources.files(__package__).joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def check_self_contained(name: str, source: str, siblings: Iterable[str], allowed: Iterable[str] = ()) -> None:
    """Refuse a module for ``runtime/`` that imports jupyter_pipelines, or third-party code besides ``allowed``."""
    siblings, allowed = set(siblings), set(allowed)
    for node in ast.walk(ast.parse(source, name)):
        modules: list[tuple[int, str]] = []
        if isinstance(node, ast.Import):
            modules = [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:
                raise ExportError(f"runtime module {name} imports from outside its folder (level {node.level})")
            if node.level == 1:
                targets = [node.module] if node.module else [alias.name for alias in node.names]
                outside = [t for t in targets if t.split(".")[0] not in siblings]
                if outside:
                    raise ExportError(f"runtime module {name} imports {outside}, which are not shipped in runtime/")
                continue
            modules = [(0, node.module or "")]
        for _, module in modules:
            top = module.split(".")[0]
            if top == "jupyter_pipelines" or not (top in sys.stdlib_module_names or top in allowed):
                raise ExportError(f"runtime module {name} imports {module!r}; it may use only the standard "
                                  f"library and {sorted(allowed)}")


def runtime_files() -> dict[str, bytes]:
    """``runtime/`` of the zip: the runner modules, verified to be self-contained."""
    package = importlib.resources.files("jupyter_pipelines.runner")
    siblings = {name[:-3] for name in RUNTIME_MODULES if name != "__init__.py"}
    files = {}
    for name in RUNTIME_MODULES:
        source = package.joinpath(name).read_text(encoding="utf-8")
        check_self_contained(f"runner/{name}", source, siblings, RUNTIME_ALLOWED)
        files[f"runtime/{name}"] = source.encode("utf-8")
    return files


def shipped_filesystems(protocols: Iterable[str]) -> tuple[dict[str, str], dict[str, bytes], dict[str, list[str]]]:
    """Filesystems implemented inside jupyter_pipelines (e.g. ``sciserver``) that the zip must carry.

    Returns ``({protocol: "runtime.module:Class"}, {zip path: source}, {zip path: imported modules})``.
    """
    registrations: dict[str, str] = {}
    files: dict[str, bytes] = {}
    imports: dict[str, list[str]] = {}
    for protocol in sorted(set(protocols)):
        if protocol in PROTOCOL_TO_DISTRIBUTION:
            continue
        try:
            cls = fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError):
            continue
        module_name = cls.__module__
        if not module_name.startswith("jupyter_pipelines."):
            continue
        module = sys.modules[module_name]
        source = inspect.getsource(module)
        short = module_name.rsplit(".", 1)[1]
        check_self_contained(module_name, source, (), RUNTIME_ALLOWED | {m for m in imported_modules(source)
                                                                         if m != "jupyter_pipelines"})
        path = f"runtime/{short}.py"
        files[path] = source.encode("utf-8")
        imports[path] = imported_modules(source)
        registrations[protocol] = f"runtime.{short}:{cls.__name__}"
    return registrations, files, imports


def operation_files(pipeline: Pipeline) -> dict[str, str]:
    """``{operation key: "operations/<key>.py"}``; distinct even on case-insensitive filesystems."""
    taken: set[str] = set()
    return {key: "operations/" + safe_file_name(key.replace(".", "_"), taken, ".py")
            for key in sorted(pipeline.operations)}


def operation_module(pipeline: Pipeline, key: str) -> str:
    """A readable module: a comment header, then the captured source (line numbers match tracebacks)."""
    definition = pipeline.operations[key]
    users = [node.id for node in pipeline.nodes.values() if node.kind == "operation" and node.operation == key]
    defaults = {name: spec.get("default") for name, spec in sorted(definition.attributes.items())}
    header = [
        f"# Operation {key!r} of pipeline {pipeline.project}/{pipeline.name}, exported by jupyter_pipelines.",
        f"# main.py calls {definition.function}() with the data inputs {list(definition.inputs)} and the attributes of",
        "# each node that uses it (their values are in pipeline.json); it returns "
        + (f"{list(definition.outputs)}." if len(definition.outputs) > 1 else f"{definition.outputs[0]!r}."),
        f"# Attribute defaults: {json.dumps(defaults, sort_keys=True)}",
        f"# Used by node(s): {', '.join(users) or '-'}",
        "",
    ]
    source = definition.source if definition.source.endswith("\n") else definition.source + "\n"
    return "\n".join(header) + "\n" + source


# -- pipeline.json and README -------------------------------------------------------------------------
def manifest(pipeline: Pipeline, files: Mapping[str, str], plans: list[InputPlan],
             outputs: Mapping[str, dict[str, str]], filesystems: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "export_format": EXPORT_FORMAT,
        "exported_by": f"jupyter_pipelines {__version__}",
        "name": pipeline.name,
        "project": pipeline.project,
        "operations": {
            key: {"function": op.function, "file": files[key], "inputs": list(op.inputs), "outputs": list(op.outputs),
                  "attributes": {k: dict(v) for k, v in op.attributes.items()}}
            for key, op in pipeline.operations.items()
        },
        "nodes": [node.to_dict() for node in pipeline.nodes.values()],
        "order": pipeline.topological_order(),
        "inputs": {plan.name: plan.to_json() for plan in plans},
        "outputs": dict(outputs),
        "filesystems": dict(filesystems),
    }
    embedded = {plan.name: dict(plan.embedded) for plan in plans if plan.embedded}
    if embedded:
        data["embedded_credentials"] = embedded
    return data


def _inputs_section(plans: list[InputPlan]) -> str:
    if not plans:
        return "This pipeline reads no input artifact, so it needs no credentials.\n"
    lines = []
    for plan in plans:
        if plan.bundled:
            lines.append(f"- **{plan.name}** (from {plan.record.backend!r} storage) is bundled in the zip as "
                         f"`{plan.file}`: it needs no credentials.")
            continue
        lines.append(f"- **{plan.name}** is read at run time from `{plan.location}` ({plan.record.backend!r} "
                     f"storage). Give `--input {shlex.quote(plan.name + '=URL')}` to read it from elsewhere (a local file or any "
                     "fsspec URL).")
        if not plan.credentials:
            lines.append("  It needs no credentials.")
        for field_name, entry in sorted(plan.credentials.items()):
            kind = "a JSON object" if entry["type"] == "dict" else "text"
            if field_name in plan.embedded:
                need = "optional: embedded in pipeline.json"
            elif "default" in entry:
                need = "optional: defaults to the value recorded with the artifact"
            elif entry.get("required"):
                need = "required"
            else:
                need = "optional"
            what = f" — {entry['description']}" if entry.get("description") else ""
            lines.append(f"  - `{entry['env']}`: its `{field_name}`{what}; {kind}, {need}.")
        if plan.credentials:
            lines.append("  A variable set to an empty value means \"no value\" (e.g. anonymous access or the "
                         "backend's own default credential chain).")
    if not any(plan.credentials for plan in plans if not plan.bundled):
        pass
    elif any(plan.embedded for plan in plans):
        lines.append("\nCredentials are read from the environment variables named above, else from the values "
                     "embedded in pipeline.json.")
    else:
        lines.append("\nCredentials are read from the environment variables named above; none is in this zip.")
    return "\n".join(lines) + "\n"


def _env_example(plans: list[InputPlan]) -> str:
    names = [entry["env"] for plan in plans if not plan.bundled for f, entry in sorted(plan.credentials.items())
             if entry.get("required") and f not in plan.embedded]
    return "".join(f"export {name}=...\n" for name in names)


def readme(pipeline: Pipeline, data: Mapping[str, Any], plans: list[InputPlan], notes: list[str]) -> str:
    nodes = {node["id"]: node for node in data["nodes"]}
    steps = []
    for index, node_id in enumerate(data["order"], 1):
        node = nodes[node_id]
        if node["kind"] == "operation":
            op = data["operations"][node["operation"]]
            attributes = json.dumps(node["attributes"], sort_keys=True)
            steps.append(f"{index}. `{node_id}`: {op['function']}() in `{op['file']}`, attributes {attributes}")
        elif node["kind"] == "input":
            steps.append(f"{index}. `{node_id}`: input artifact **{node['artifact']}**")
        else:
            out = data["outputs"][node_id]
            steps.append(f"{index}. `{node_id}`: writes output artifact **{out['artifact']}** as `{out['file']}`")
    outputs = "\n".join(f"- **{out['artifact']}** → `outputs/{out['file']}`"
                        for _, out in sorted(data["outputs"].items())) or "- (this pipeline declares no Output)"
    example = next(iter(sorted(data["outputs"].values(), key=lambda o: o["file"])), {"file": "NAME.pkl"})["file"]
    warning = ""
    if "embedded_credentials" in data:
        warning = ("\n> **WARNING — this zip contains credentials in plain text** (in `pipeline.json`, under "
                   f"`embedded_credentials`, for: {', '.join(sorted(data['embedded_credentials']))}). Anyone who "
                   "has the zip can use them: share it only as you would share those credentials. Environment "
                   "variables still take precedence over them.\n")
    note_text = "".join(f"- {note}\n" for note in notes)
    return string.Template(_template("README.md")).substitute(
        name=pipeline.name,
        project=pipeline.project,
        warning=warning,
        env_example=_env_example(plans),
        steps="\n".join(steps),
        inputs=_inputs_section(plans),
        outputs=outputs,
        example=example,
        notes=("\n## Notes on requirements\n\n" + note_text) if notes else "",
    )


# -- the zip ------------------------------------------------------------------------------------------
def _info(name: str, mode: int = FILE_MODE, directory: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3  # unix, so the permission bits below are honoured
    if directory:
        info.external_attr = ((0o040000 | DIR_MODE) << 16) | 0x10
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _as_pipeline(pipeline: Pipeline | Mapping[str, Any]) -> Pipeline:
    if isinstance(pipeline, Pipeline):
        pipeline.validate()
        return pipeline
    try:
        return Pipeline.from_dict(pipeline)
    except PipelineError as error:
        raise ExportError(str(error)) from None


def build_zip(pipeline: Pipeline | Mapping[str, Any], file: BinaryIO, *, records: Mapping[str, ArtifactRecord],
              context: Context, bundle: Iterable[str] = (),
              embed_credentials: Mapping[str, Mapping[str, Any]] | None = None,
              credentials: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Write the export zip of ``pipeline`` to ``file`` (opened for writing in binary mode).

    ``records`` are the records of its input artifacts, by name; ``context`` the engine's, whose
    storage backends read the artifacts that are bundled.
    """
    pipeline = _as_pipeline(pipeline)
    credentials = {k: dict(v or {}) for k, v in (credentials or {}).items()}
    plans = plan_inputs(pipeline, bundle=bundle, credentials=credentials,
                        embed_credentials=dict(embed_credentials or {}), records=records, context=context)
    files = operation_files(pipeline)
    entries: dict[str, Any] = {"operations/": None, "runtime/": None, "artifacts/": None}
    for key, path in files.items():
        entries[path] = operation_module(pipeline, key).encode("utf-8")
    entries.update(runtime_files())
    protocols = {plan.protocol for plan in plans if not plan.bundled}
    filesystems, fs_files, fs_imports = shipped_filesystems(protocols)
    entries.update(fs_files)
    taken: set[str] = set()
    outputs = {node.id: {"artifact": node.artifact or node.id,
                         "file": safe_file_name(node.artifact or node.id, taken, ".pkl")}
               for node in pipeline.nodes.values() if node.kind == "output"}
    data = manifest(pipeline, files, plans, outputs, filesystems)
    requirements, notes = requirements_text(
        protocols, {key: op.source for key, op in pipeline.operations.items()}, fs_imports)
    entries["pipeline.json"] = (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    entries["requirements.txt"] = requirements.encode()
    entries["README.md"] = readme(pipeline, data, plans, notes).encode("utf-8")
    entries["main.py"] = _template("main.py").encode("utf-8")
    for plan in plans:
        if plan.bundled:
            entries[plan.file or ""] = plan
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            content = entries[name]
            if name.endswith("/"):
                archive.writestr(_info(name, directory=True), b"")
            elif isinstance(content, bytes):
                archive.writestr(_info(name, EXEC_MODE if name == "main.py" else FILE_MODE), content)
            else:
                with open_artifact(content, credentials.get(content.name, {}), context) as source, \
                        archive.open(_info(name), "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target, COPY_CHUNK)


def write_zip(pipeline: Pipeline | Mapping[str, Any], path: str, *, records: Mapping[str, ArtifactRecord],
              context: Context, bundle: Iterable[str] = (),
              embed_credentials: Mapping[str, Mapping[str, Any]] | None = None,
              credentials: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Write the export zip to ``path`` (atomically: nothing half-written is left) and return its absolute path."""
    path = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as file:
            build_zip(pipeline, file, records=records, context=context, bundle=bundle,
                      embed_credentials=embed_credentials, credentials=credentials)
        os.replace(partial, path)
    except BaseException:
        try:
            os.remove(partial)
        except FileNotFoundError:
            pass
        raise
    return path
