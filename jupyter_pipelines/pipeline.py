"""The pipeline model: operations, the Pipeline DAG, Input and Output artifacts, JSON form."""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from .capture import capture_source
from .errors import BadRequest

if TYPE_CHECKING:
    from .client import Execution

FORMAT_VERSION = 1
DEFAULT_PROJECT = "default"
ATTRIBUTE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
    "any": (object,),
}
_current: contextvars.ContextVar[Pipeline | None] = contextvars.ContextVar("pipeline", default=None)
_loading: contextvars.ContextVar[bool] = contextvars.ContextVar("loading", default=False)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """While a file is read for its pipelines (CLI), run/execute/export calls in it do nothing."""
    token = _loading.set(True)
    try:
        yield
    finally:
        _loading.reset(token)


class PipelineError(BadRequest):
    """An invalid pipeline; the message names the problem."""


@dataclass(frozen=True)
class Ref:
    """One output of a node, as consumed by another node."""

    node: str
    output: str = "output"

    def to_dict(self) -> dict[str, str]:
        return {"node": self.node, "output": self.output}


@dataclass(frozen=True)
class OperationDef:
    """What an operation is: its source and its signature."""

    function: str
    source: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, Mapping[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "source": self.source,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attributes": {k: dict(v) for k, v in self.attributes.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationDef:
        try:
            return cls(
                function=str(data["function"]),
                source=str(data["source"]),
                inputs=tuple(data.get("inputs", ())),
                outputs=tuple(data.get("outputs", ("output",))),
                attributes={k: dict(v) for k, v in data.get("attributes", {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise PipelineError(f"malformed operation definition: missing or bad {error}") from None


@dataclass
class Node:
    """A step of the pipeline: an operation call, an Input or an Output artifact."""

    id: str
    kind: str  # "operation" | "input" | "output"
    operation: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Ref] = field(default_factory=dict)
    artifact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.operation is not None:
            data["operation"] = self.operation
        if self.artifact is not None:
            data["artifact"] = self.artifact
        data["attributes"] = dict(self.attributes)
        data["inputs"] = {name: ref.to_dict() for name, ref in self.inputs.items()}
        return data


class NodeOutput:
    """A placeholder for data produced by a node while a pipeline is being defined."""

    def __init__(self, pipeline: Pipeline, ref: Ref) -> None:
        self.pipeline = pipeline
        self.ref = ref

    def __repr__(self) -> str:
        return f"<{self.ref.node}.{self.ref.output}>"


def _attribute_type(parameter: inspect.Parameter) -> str:
    for candidate in (parameter.annotation, type(parameter.default)):
        name = candidate if isinstance(candidate, str) else getattr(candidate, "__name__", "")
        if name in ATTRIBUTE_TYPES and name != "any":
            return name
    return "any"


def check_attribute(owner: str, name: str, spec: Mapping[str, Any], value: Any) -> None:
    """Raise PipelineError when ``value`` does not fit the attribute's declared type."""
    kind = spec.get("type", "any")
    allowed = ATTRIBUTE_TYPES.get(kind, (object,))
    wrong_bool = isinstance(value, bool) and kind in ("int", "float")
    if wrong_bool or not isinstance(value, allowed):
        raise PipelineError(f"attribute {name!r} of {owner!r} must be {kind}, got {type(value).__name__} {value!r}")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise PipelineError(f"attribute {name!r} of {owner!r} must be JSON-serializable, got {value!r}") from None


SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _check_name(label: str, name: str) -> None:
    """Names become file and folder names (logs, storage paths, export modules): nothing that is a path."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise PipelineError(f"bad {label} {name!r}: use letters, digits, '_', '-' and '.' (no '..')")


class Operation:
    """A Python function usable as a pipeline step (see :func:`operation`)."""

    def __init__(self, func: Callable[..., Any], outputs: Iterable[str] = ("output",)) -> None:
        self.func = func
        self.outputs = tuple(outputs)
        if not self.outputs or len(set(self.outputs)) != len(self.outputs):
            raise PipelineError(f"operation {func.__name__!r} needs distinct output names, got {self.outputs}")
        self.signature = inspect.signature(func)
        self.inputs: tuple[str, ...] = ()
        self.attributes: dict[str, dict[str, Any]] = {}
        for name, parameter in self.signature.parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise PipelineError(f"operation {func.__name__!r} cannot take *args or **kwargs")
            if parameter.default is parameter.empty:
                self.inputs += (name,)
            else:
                spec = {"type": _attribute_type(parameter), "default": parameter.default}
                check_attribute(func.__name__, name, spec, parameter.default)
                self.attributes[name] = spec
        functools.update_wrapper(self, func)

    @property
    def name(self) -> str:
        return self.func.__name__

    def definition(self) -> OperationDef:
        """Snapshot of the operation: captured source and signature."""
        return OperationDef(self.name, capture_source(self.func), self.inputs, self.outputs, self.attributes)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pipeline = _current.get()
        if pipeline is None:
            return self.func(*args, **kwargs)
        return pipeline._add_operation(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<operation {self.name} inputs={self.inputs} outputs={self.outputs}>"


def operation(func: Callable[..., Any] | None = None, *, outputs: Iterable[str] = ("output",)) -> Any:
    """Decorate a function as an operation; ``outputs`` names what it returns (a tuple if several)."""
    if func is None:
        return lambda f: Operation(f, outputs)
    return Operation(func, outputs)


def _pipeline_now() -> Pipeline:
    pipeline = _current.get()
    if pipeline is None:
        raise PipelineError("Input and Output are used inside a 'with Pipeline(...)' block")
    return pipeline


def Input(artifact: str) -> NodeOutput:  # noqa: N802 - reads as a node type in pipelines
    """Reference a registered artifact as data for the operations of the pipeline."""
    pipeline = _pipeline_now()
    node = Node(pipeline._new_id(artifact), "input", artifact=artifact)
    pipeline._add_node(node)
    return NodeOutput(pipeline, Ref(node.id))


def Output(data: NodeOutput, name: str) -> None:  # noqa: N802
    """Save ``data`` as the artifact ``name`` in the execution's storage."""
    pipeline = _pipeline_now()
    if not isinstance(data, NodeOutput) or data.pipeline is not pipeline:
        raise PipelineError(f"Output {name!r} takes the output of an operation of this pipeline, got {data!r}")
    node = Node(pipeline._new_id(name), "output", artifact=name, inputs={"data": data.ref})
    pipeline._add_node(node)


class Pipeline:
    """A DAG of operation calls, recorded inside ``with Pipeline(name):``."""

    def __init__(self, name: str, project: str = DEFAULT_PROJECT) -> None:
        for label, value in (("pipeline", name), ("project", project)):
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value):
                raise PipelineError(f"bad {label} name {value!r}: use letters, digits, '_', '-' and '.'")
        self.name = name
        self.project = project
        self.operations: dict[str, OperationDef] = {}
        self.nodes: dict[str, Node] = {}
        self._token: contextvars.Token[Pipeline | None] | None = None

    # -- definition ---------------------------------------------------------------------------
    def __enter__(self) -> Pipeline:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._token is not None
        _current.reset(self._token)
        self._token = None
        if exc[0] is None:
            self.validate()

    def _new_id(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]", "_", base) or "node"
        candidate, n = base, 1
        while candidate in self.nodes:
            n += 1
            candidate = f"{base}_{n}"
        return candidate

    def _add_node(self, node: Node) -> None:
        if node.id in self.nodes:
            raise PipelineError(f"duplicate node id {node.id!r}")
        self.nodes[node.id] = node

    def _operation_key(self, op: Operation) -> str:
        definition = op.definition()
        key, n = op.name, 1
        while key in self.operations and self.operations[key] != definition:
            n += 1
            key = f"{op.name}_{n}"
        self.operations[key] = definition
        return key

    def _add_operation(self, op: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = op.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise PipelineError(f"{op.name}(): {error}") from None
        inputs: dict[str, Ref] = {}
        attributes = {name: spec["default"] for name, spec in op.attributes.items()}
        for name, value in bound.arguments.items():
            if name in op.inputs:
                if not isinstance(value, NodeOutput) or value.pipeline is not self:
                    raise PipelineError(
                        f"input {name!r} of {op.name!r} must be the output of an operation or an Input "
                        f"of this pipeline, got {type(value).__name__}"
                    )
                inputs[name] = value.ref
            else:
                if isinstance(value, NodeOutput):
                    raise PipelineError(f"{name!r} of {op.name!r} is an attribute (it has a default); pass a value")
                check_attribute(op.name, name, op.attributes[name], value)
                attributes[name] = value
        node = Node(self._new_id(op.name), "operation", self._operation_key(op), attributes, inputs)
        self._add_node(node)
        outputs = tuple(NodeOutput(self, Ref(node.id, out)) for out in op.outputs)
        return outputs[0] if len(outputs) == 1 else outputs

    # -- structure ----------------------------------------------------------------------------
    def outputs_of(self, node: Node) -> tuple[str, ...]:
        if node.kind == "operation":
            return self.operations[node.operation or ""].outputs
        return ("output",) if node.kind == "input" else ()

    def validate(self) -> None:
        """Check references, attributes and acyclicity; raise PipelineError naming the problem."""
        for key in self.operations:
            _check_name("operation key", key)
        for node in self.nodes.values():
            _check_name("node id", node.id)
            if node.artifact is not None:
                _check_name("artifact name", node.artifact)
            if node.kind not in ("operation", "input", "output"):
                raise PipelineError(f"node {node.id!r} has unknown kind {node.kind!r}")
            if node.kind in ("input", "output") and not node.artifact:
                raise PipelineError(f"{node.kind} node {node.id!r} needs an artifact name")
            expected: tuple[str, ...] = ("data",) if node.kind == "output" else ()
            if node.kind == "operation":
                definition = self.operations.get(node.operation or "")
                if definition is None:
                    raise PipelineError(f"node {node.id!r} uses unknown operation {node.operation!r}")
                expected = definition.inputs
                for name, value in node.attributes.items():
                    if name not in definition.attributes:
                        raise PipelineError(f"node {node.id!r} has unknown attribute {name!r}")
                    check_attribute(node.id, name, definition.attributes[name], value)
            for name, ref in node.inputs.items():
                if name not in expected:
                    raise PipelineError(f"node {node.id!r} has unknown input {name!r} (expects {list(expected)})")
                source = self.nodes.get(ref.node)
                if source is None:
                    raise PipelineError(f"input {name!r} of node {node.id!r} refers to unknown node {ref.node!r}")
                if ref.output not in self.outputs_of(source):
                    raise PipelineError(f"input {name!r} of node {node.id!r}: node {ref.node!r} has no output {ref.output!r}")
            missing = [name for name in expected if name not in node.inputs]
            if missing:
                raise PipelineError(f"node {node.id!r} is missing input(s) {missing}")
        self.topological_order()

    def dependencies(self, node_id: str) -> set[str]:
        return {ref.node for ref in self.nodes[node_id].inputs.values()}

    def topological_order(self) -> list[str]:
        """Node ids, each after the nodes it depends on (definition order among equals)."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(node_id: str, path: list[str]) -> None:
            if state.get(node_id) == 2:
                return
            if state.get(node_id) == 1:
                cycle = path[path.index(node_id) :] + [node_id]
                raise PipelineError(f"the pipeline has a cycle: {' -> '.join(cycle)}")
            state[node_id] = 1
            for dependency in sorted(self.dependencies(node_id), key=list(self.nodes).index):
                visit(dependency, path + [node_id])
            state[node_id] = 2
            order.append(node_id)

        for node_id in self.nodes:
            visit(node_id, [])
        return order

    def downstream(self, node_ids: Iterable[str]) -> set[str]:
        """The given nodes and every node that depends on them."""
        result = set(node_ids)
        for node_id in self.topological_order():
            if self.dependencies(node_id) & result:
                result.add(node_id)
        return result

    # -- serialization --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "project": self.project,
            "operations": {key: op.to_dict() for key, op in sorted(self.operations.items())},
            "nodes": [node.to_dict() for node in self.nodes.values()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=indent is not None)

    def digest(self) -> str:
        """Content address of the snapshot (graph, attributes, sources)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        if not isinstance(data, Mapping):
            raise PipelineError("a pipeline is a JSON object")
        try:
            pipeline = cls(data["name"], data.get("project", DEFAULT_PROJECT))
            for key, op in dict(data.get("operations", {})).items():
                pipeline.operations[key] = OperationDef.from_dict(op)
            for raw in data["nodes"]:
                node = Node(
                    id=str(raw["id"]),
                    kind=raw.get("kind", "operation"),
                    operation=raw.get("operation"),
                    attributes=dict(raw.get("attributes", {})),
                    inputs={k: Ref(v["node"], v.get("output", "output")) for k, v in raw.get("inputs", {}).items()},
                    artifact=raw.get("artifact"),
                )
                pipeline._add_node(node)
        except (KeyError, TypeError, AttributeError) as error:
            raise PipelineError(f"malformed pipeline JSON: missing or bad {error}") from None
        for node in pipeline.nodes.values():
            if node.kind == "operation" and node.operation in pipeline.operations:
                defaults = {k: v["default"] for k, v in pipeline.operations[node.operation].attributes.items()}
                node.attributes = {**defaults, **node.attributes}
        pipeline.validate()
        return pipeline

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise PipelineError(f"the pipeline is not valid JSON: {error}") from None

    def with_sources(self, sources: Mapping[str, str]) -> Pipeline:
        """A copy whose operations (by key) have the given edited sources."""
        data = self.to_dict()
        for key, source in sources.items():
            if key not in data["operations"]:
                raise PipelineError(f"unknown operation {key!r}")
            data["operations"][key]["source"] = source
        return Pipeline.from_dict(data)

    # -- running --------------------------------------------------------------------------------
    def run(self, name: str = "", *, wait: bool = False, **options: Any) -> Execution:
        """Submit an execution (to the Jupyter server, or the embedded engine) and return its handle."""
        if _loading.get():
            return None  # type: ignore[return-value]
        from .client import connect

        execution = connect().submit_pipeline(self, name, **options)
        return execution.wait() if wait else execution

    def execute(self) -> Any:
        """Show the execute dialog (a widget) for this pipeline."""
        if _loading.get():
            return None
        from .widgets import ExecuteDialog

        return ExecuteDialog(self).show()

    def export(self, path: str | None = None, **options: Any) -> Any:
        """Write the pipeline as a runnable zip to ``path``, or show the export dialog."""
        if _loading.get():
            return None
        if path is None:
            from .widgets import ExportDialog

            return ExportDialog(self).show()
        from .export import write_zip

        return write_zip(self, path, **options)

    def __repr__(self) -> str:
        return f"<Pipeline {self.project}/{self.name}: {len(self.nodes)} nodes>"
