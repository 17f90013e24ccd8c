"""Operation attributes in the execute dialog's Basic tab.

Every operation node's attributes become typed fields (:class:`~.forms.FieldInput`, validated
like backend fields, then checked against the attribute's declared type as the engine checks
``params``), pre-filled with the pipeline's values — or with saved settings' ``params``. Only the
values that differ from the pipeline's are sent, as ``params={"node.attribute": value}``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from ..pipeline import Pipeline, PipelineError, check_attribute
from .forms import FieldInput, Invalid
from .style import esc, help_text

#: attribute type -> field type (forms.FieldInput)
FIELD_TYPES = {"int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list", "dict": "json",
               "any": "json"}


class AttributeInput:
    """One attribute of one operation node."""

    def __init__(self, node: str, name: str, spec: Mapping[str, Any], value: Any, saved: Any = None) -> None:
        self.node = node
        self.name = name
        self.spec = dict(spec)
        self.value = value  # the pipeline's
        kind = str(self.spec.get("type") or "any")
        if saved is not None:
            try:
                check_attribute(node, name, self.spec, saved)
            except PipelineError:  # saved for an older version of the pipeline: not used
                saved = None
        self.field = FieldInput({"name": name, "type": FIELD_TYPES.get(kind, "json"), "default": value}, saved)
        self.field.widget.tooltip = f"{node}.{name} ({kind}); the pipeline's value: {json.dumps(value)}"
        self.field.box.add_class(f"jp-pipelines-attribute-{node}-{name}")

    @property
    def key(self) -> str:
        return f"{self.node}.{self.name}"

    def parse(self) -> Any:
        """The value typed (checked against the attribute's type), or the pipeline's when left empty."""
        value = self.field.validate()
        if value is None:
            return self.value
        try:
            check_attribute(self.node, self.name, self.spec, value)
        except PipelineError as error:
            self.field.show_error(str(error))
            raise Invalid(str(error)) from None
        return value

    def changed(self) -> bool:
        try:
            return bool(self.parse() != self.value)
        except Invalid:
            return True


class AttributesForm:
    """The attributes of every operation node of a pipeline, grouped by node."""

    def __init__(self, pipeline: Pipeline, saved: Mapping[str, Any] | None = None) -> None:
        saved = dict(saved or {})
        self.inputs: dict[str, AttributeInput] = {}
        self.groups: dict[str, w.VBox] = {}
        for node in pipeline.nodes.values():
            if node.kind != "operation" or node.operation not in pipeline.operations:
                continue
            specs = pipeline.operations[node.operation].attributes
            if not specs:
                continue
            fields = []
            for name, spec in specs.items():
                value = node.attributes.get(name, spec.get("default"))
                attribute = AttributeInput(node.id, name, spec, value, saved.get(f"{node.id}.{name}"))
                self.inputs[attribute.key] = attribute
                fields.append(attribute.field.box)
            operation = f' <span style="font-weight:400;color:#757575">(operation {esc(node.operation)})</span>' \
                if node.operation != node.id else ""
            title = w.HTML(f'<div style="font-weight:600;margin:4px 0 2px"><code>{esc(node.id)}</code>{operation}</div>')
            group = w.VBox([title, *fields], layout=w.Layout(margin="0 0 4px 0", padding="0 0 0 6px"))
            group.add_class("jp-pipelines-attributes-group")
            group.add_class(f"jp-pipelines-attributes-{node.id}")
            self.groups[node.id] = group
        if self.groups:
            intro = w.HTML('<div style="font-weight:600;margin:8px 0 2px">Operation attributes</div>'
                           + help_text("Pre-filled with the pipeline's values; the values you change are sent as "
                                       "parameters (params) and recorded in the execution's commit."))
            self.box = w.VBox([intro, *self.groups.values()])
        else:
            self.box = w.VBox([w.HTML(help_text("No operation of this pipeline takes attributes."))])
        self.box.add_class("jp-pipelines-attributes")

    def __getitem__(self, key: str) -> AttributeInput:
        """``form["train.gamma"]``."""
        return self.inputs[key]

    def params(self) -> tuple[dict[str, Any], list[str]]:
        """``({"node.attribute": value} for the values changed, problems)``; every field is checked."""
        params: dict[str, Any] = {}
        problems: list[str] = []
        for key, attribute in self.inputs.items():
            try:
                value = attribute.parse()
            except Invalid as error:
                problems.append(f"{key}: {error}")
                continue
            if value != attribute.value:
                params[key] = value
        return params, problems

    def highlight(self, node: str) -> None:
        """Mark the attributes of ``node`` (a click on it in the dialog's graph)."""
        for node_id, group in self.groups.items():
            group.layout.border_left = "3px solid #1e88e5" if node_id == node else ""
