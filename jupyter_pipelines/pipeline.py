"""The pipeline model: operations, the Pipeline DAG, Input and Output artifacts, JSON form."""
from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .capture import OPERATION_MARK, capture_source
from .errors import BadRequest

FORMAT_VERSION = 1
DEFAULT_PROJECT = "default"
#: What a node is: a call of an operation, or an Input or Output artifact.
NodeKind = Literal["operation", "input", "output"]
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


def is_loading() -> bool:
    """True while a file is read for its pipelines (see :func:`loading`)."""
    return _loading.get()


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
    def from_dict(cls, data: Any, key: str = "") -> OperationDef:
        label = f"operation {key!r}" if key else "an operation"
        data = _read(data, dict, label)
        attributes = {}
        for name, spec in _read(data.get("attributes", {}), dict, f"attributes of {label}").items():
            spec = _read(spec, dict, f"attribute {name!r} of {label}")
            if not isinstance(spec.get("type", "any"), str) or spec.get("type", "any") not in ATTRIBUTE_TYPES:
                raise PipelineError(f"attribute {name!r} of {label} has unknown type {spec.get('type')!r}")
            attributes[name] = dict(spec)
        return cls(
            function=_read(data.get("function"), str, f"'function' of {label}"),
            source=_read(data.get("source"), str, f"'source' of {label}"),
            inputs=tuple(_names(data.get("inputs", []), f"'inputs' of {label}")),
            outputs=tuple(_names(data.get("outputs", ["output"]), f"'outputs' of {label}")),
            attributes=attributes,
        )


def check_edit(definition: OperationDef, key: str, source: str) -> None:
    """Refuse an edited source that does not compile, or whose function changes the operation's
    inputs or attributes (the graph depends on them); the message names the line."""
    try:
        tree = ast.parse(source, filename=f"<operation {key}>")
        compile(tree, f"<operation {key}>", "exec")
    except SyntaxError as error:
        where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        raise PipelineError(f"the edited source of {key!r} does not compile: {where}: {error.msg}") from None
    function = next((node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and node.name == definition.function), None)
    if function is None:
        raise PipelineError(f"the edited source of {key!r} must define the function {definition.function!r}")
    arguments = function.args
    if arguments.vararg or arguments.kwarg or arguments.posonlyargs or arguments.kwonlyargs:
        raise PipelineError(f"line {function.lineno}: {definition.function}() must take plain parameters only")
    names = [argument.arg for argument in arguments.args]
    required = names[:len(names) - len(arguments.defaults)]
    optional = names[len(required):]
    if tuple(required) != definition.inputs or sorted(optional) != sorted(definition.attributes):
        raise PipelineError(
            f"line {function.lineno}: the edit changes the parameters of {definition.function}(): inputs "
            f"{list(definition.inputs)} and attributes {sorted(definition.attributes)} must stay, got inputs "
            f"{required} and attributes {sorted(optional)}")


def _read(value: Any, kind: type, label: str) -> Any:
    """``value`` if it is a ``kind`` (JSON object, list or string), else PipelineError naming ``label``."""
    kinds: dict[type, tuple[type, str]] = {dict: (Mapping, "an object"), list: (list, "a list"), str: (str, "a string")}
    expected, name = kinds[kind]
    if not isinstance(value, expected):
        raise PipelineError(f"malformed pipeline JSON: {label} must be {name}, got {type(value).__name__}")
    return value


def _names(value: Any, label: str) -> list[str]:
    return [_read(item, str, label) for item in _read(value, list, label)]


def _optional_str(value: Any, label: str) -> str | None:
    return None if value is None else _read(value, str, label)


@dataclass
class Node:
    """A step of the pipeline: an operation call, an Input or an Output artifact."""

    id: str
    kind: NodeKind
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


setattr(Operation, OPERATION_MARK, True)


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
    def from_dict(cls, data: Any) -> Pipeline:
        """The pipeline of a JSON object (as ``to_dict`` writes it), validated; PipelineError names what is wrong."""
        data = _read(data, dict, "a pipeline")
        pipeline = cls(_read(data.get("name"), str, "'name'"), _read(data.get("project", DEFAULT_PROJECT), str,
                                                                      "'project'"))
        for key, op in _read(data.get("operations", {}), dict, "'operations'").items():
            pipeline.operations[key] = OperationDef.from_dict(op, key)
        for position, raw in enumerate(_read(data.get("nodes"), list, "'nodes'")):
            raw = _read(raw, dict, f"node {position}")
            node_id = _read(raw.get("id"), str, f"'id' of node {position}")
            inputs = {}
            for name, ref in _read(raw.get("inputs", {}), dict, f"'inputs' of node {node_id!r}").items():
                ref = _read(ref, dict, f"input {name!r} of node {node_id!r}")
                inputs[name] = Ref(_read(ref.get("node"), str, f"'node' of input {name!r} of {node_id!r}"),
                                   _read(ref.get("output", "output"), str, f"'output' of input {name!r} of {node_id!r}"))
            pipeline._add_node(Node(
                id=node_id,
                kind=_read(raw.get("kind", "operation"), str, f"'kind' of node {node_id!r}"),
                operation=_optional_str(raw.get("operation"), f"'operation' of node {node_id!r}"),
                attributes=dict(_read(raw.get("attributes", {}), dict, f"'attributes' of node {node_id!r}")),
                inputs=inputs,
                artifact=_optional_str(raw.get("artifact"), f"'artifact' of node {node_id!r}"),
            ))
        for node in pipeline.nodes.values():
            if node.kind == "operation" and node.operation in pipeline.operations:
                defaults = {k: v.get("default") for k, v in pipeline.operations[node.operation].attributes.items()}
                node.attributes = {**defaults, **node.attributes}
        pipeline.validate()
        return pipeline

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise PipelineError(f"the pipeline is not valid JSON: {error}") from None

    def with_params(self, params: Mapping[str, Any]) -> Pipeline:
        """A copy with attribute overrides ``{"node.attribute": value}`` applied (types checked)."""
        data = self.to_dict()
        nodes = {node["id"]: node for node in data["nodes"]}
        for key, value in params.items():
            node_id, _, name = key.rpartition(".")
            node = nodes.get(node_id)
            if node is None or node["kind"] != "operation":
                raise PipelineError(f"parameter {key!r}: {self.name!r} has no operation {node_id!r} "
                                    f"(its operations: {sorted(n for n in nodes if nodes[n]['kind'] == 'operation')})")
            spec = self.operations[node["operation"]].attributes.get(name)
            if spec is None:
                known = sorted(self.operations[node["operation"]].attributes)
                raise PipelineError(f"parameter {key!r}: operation {node_id!r} has no attribute {name!r} "
                                    f"(its attributes: {known})")
            check_attribute(node_id, name, spec, value)
            node["attributes"][name] = value
        return type(self).from_dict(data)

    def with_sources(self, sources: Mapping[str, str]) -> Pipeline:
        """A copy whose operations (by key) have the given edited sources."""
        data = self.to_dict()
        for key, source in sources.items():
            if key not in data["operations"]:
                raise PipelineError(f"unknown operation {key!r}")
            data["operations"][key]["source"] = source
        return Pipeline.from_dict(data)

    def __repr__(self) -> str:
        return f"<Pipeline {self.project}/{self.name}: {len(self.nodes)} nodes>"
