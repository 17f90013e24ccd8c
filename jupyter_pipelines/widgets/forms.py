"""Forms drawn from the field schemas backends declare (``GET backends``).

Each :class:`FieldInput` turns one field schema (name, type, default, choices, description,
secret, required) into a widget with its label, help text and an error line; a
:class:`BackendForm` is a backend chooser plus the chosen backend's fields.

Secrets are write-only (:class:`SecretInput`): a Password widget's ``value`` is synced widget
state in ipywidgets 8, so it would be saved with the notebook's widget state. As soon as a value
arrives from the page (on blur or Enter: ``continuous_update`` is off) it is moved into kernel
memory and the widget's value is set back to ``""``; the placeholder then says a value is held.
The kernel does not echo the value back either (``echo_update=False``).
The value is read from memory on Run and dropped right after (see ``ExecuteDialog``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as w
from traitlets import Unicode

from .style import FIELD_WIDTH, LABEL_WIDTH, error_box, esc, field_error, help_text, indented

_HELD = "●●●●●●●● entered: kept in kernel memory only"
#: field types typed as JSON text (operation attributes), with their placeholder
JSON_TYPES = {"list": 'a JSON list, e.g. [1, 2]', "json": 'a JSON value, e.g. 3, "text", [1, 2] or {"a": 1}'}


class Invalid(ValueError):
    """A field's input that cannot be used; the message is shown next to it."""


def _style() -> dict[str, str]:
    return {"description_width": LABEL_WIDTH}


def _layout() -> w.Layout:
    return w.Layout(width=FIELD_WIDTH)


class SecretPassword(w.Password):
    """A Password whose value the kernel never echoes back (ipywidgets 8 echoes frontend updates)."""

    value = Unicode("", help="Secret text; moved into kernel memory at once").tag(sync=True, echo_update=False)


class SecretInput:
    """A Password widget whose value never stays in widget state (see the module docstring)."""

    def __init__(self, description: str, placeholder: str = "", tooltip: str = "") -> None:
        self.placeholder = placeholder or "type it, then press Enter or leave the field"
        self.widget = SecretPassword(description=description, placeholder=self.placeholder, continuous_update=False,
                                 style=_style(), layout=_layout(), tooltip=tooltip or None)
        self.forget_button = w.Button(description="Forget", tooltip="Drop the value held in memory",
                                      layout=w.Layout(width="70px", display="none"))
        self.forget_button.on_click(lambda _: self.clear())
        self._secret: str = ""
        self._listeners: list[Callable[[], None]] = []
        self.widget.observe(self._took, "value")
        self.box = w.HBox([self.widget, self.forget_button])

    def _took(self, change: Mapping[str, Any]) -> None:
        if change["new"]:
            self._secret = change["new"]
            self.widget.value = ""  # out of the synced state at once
            self.widget.placeholder = _HELD
            self.forget_button.layout.display = ""
            for listener in self._listeners:
                listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    @property
    def secret(self) -> str:
        return self._secret or self.widget.value

    def clear(self) -> None:
        """Drop the secret (after Run, or on Forget)."""
        self._secret = ""
        self.widget.value = ""
        self.widget.placeholder = self.placeholder
        self.forget_button.layout.display = "none"


class FieldInput:
    """One backend field: label (``*`` when required), input, help text and an error line."""

    def __init__(self, field: Mapping[str, Any], value: Any = None, *, prefill: bool = True) -> None:
        self.field = dict(field)
        self.name: str = self.field["name"]
        self.type: str = self.field.get("type") or "str"
        self.required = bool(self.field.get("required"))
        self.secret = bool(self.field.get("secret"))
        self.default = self.field.get("default")
        self.choices = list(self.field.get("choices") or [])
        description = self.field.get("description") or ""
        label = f"{self.name} *" if self.required else self.name
        tooltip = description + (" (required)" if self.required else "")
        initial = value if value is not None else (self.default if prefill else None)
        self.secret_input: SecretInput | None = None
        if self.secret:
            hint = "JSON object, e.g. {\"token\": \"…\"}; " if self.type == "dict" else ""
            self.secret_input = SecretInput(label, hint + "secret: never saved", tooltip)
            self.widget: w.Widget = self.secret_input.widget
            row: w.Widget = self.secret_input.box
        else:
            self.widget = self._make(label, initial)
            self.widget.tooltip = tooltip or None
            row = self.widget
        self.help = indented(w.HTML(help_text(description + (" Required." if self.required else ""))
                                    if description or self.required else ""))
        self.error = indented(w.HTML(""))
        self.box = w.VBox([row, self.help, self.error], layout=w.Layout(margin="0 0 4px 0"))
        self.box.add_class("jp-pipelines-field")

    def _make(self, label: str, initial: Any) -> w.Widget:
        common = {"description": label, "style": _style(), "layout": _layout()}
        if self.choices:
            options: list[Any] = [(str(c), c) for c in self.choices]
            if not self.required:
                options.insert(0, ("(default)" if self.default is None else f"(default: {self.default})", None))
            value = initial if initial in self.choices else (None if not self.required else self.choices[0])
            return w.Dropdown(options=options, value=value, **common)
        if self.type == "bool":
            return w.Checkbox(value=bool(initial), indent=True, **common)
        if self.type in ("int", "float") and initial is not None:
            try:
                number = int(initial) if self.type == "int" else float(initial)
            except (TypeError, ValueError):
                number = 0
            cls = w.IntText if self.type == "int" else w.FloatText
            return cls(value=number, **common)
        if self.type == "dict":
            text = json.dumps(initial) if isinstance(initial, dict) and initial else ""
            return w.Textarea(value=text, placeholder='JSON object, e.g. {"key": "value"}', rows=2, **common)
        if self.type in JSON_TYPES:
            text = "" if initial is None else json.dumps(initial)
            return w.Text(value=text, placeholder=JSON_TYPES[self.type], **common)
        placeholder = {"int": "an integer", "float": "a number"}.get(self.type, "")
        if not self.required and self.default is None:
            placeholder = (placeholder + " (optional)").strip()
        return w.Text(value="" if initial is None else str(initial), placeholder=placeholder, **common)

    # -- values -----------------------------------------------------------------------------------
    def raw(self) -> Any:
        return self.secret_input.secret if self.secret_input else self.widget.value

    def set(self, value: Any) -> None:
        """Pre-fill from saved settings (never used for secrets)."""
        if self.secret_input is not None or value is None:
            return
        widget = self.widget
        if isinstance(widget, w.Dropdown):
            if value in self.choices:
                widget.value = value
        elif isinstance(widget, w.Checkbox):
            widget.value = bool(value)
        elif isinstance(widget, (w.IntText, w.FloatText)):
            try:
                widget.value = int(value) if self.type == "int" else float(value)
            except (TypeError, ValueError):
                pass
        elif self.type == "dict":
            widget.value = json.dumps(value) if value else ""
        elif self.type in JSON_TYPES:
            widget.value = json.dumps(value)
        else:
            widget.value = str(value)

    def parse(self) -> Any:
        """The value to send, ``None`` to leave the field out (its default applies); raises Invalid."""
        value = self.raw()
        if isinstance(value, str):
            value = value.strip() if not self.secret else value
        if value is None or value == "":
            if self.required:
                raise Invalid("required: enter a value")
            return None
        if self.type == "int" and not isinstance(value, int):
            try:
                return int(str(value).strip())
            except ValueError:
                raise Invalid(f"must be a whole number, got {value!r}") from None
        if self.type == "float" and not isinstance(value, (int, float)):
            try:
                return float(str(value).strip())
            except ValueError:
                raise Invalid(f"must be a number, got {value!r}") from None
        if self.type in JSON_TYPES:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as error:
                raise Invalid(f"must be JSON ({JSON_TYPES[self.type]}); {value!r} is not ({error.msg})") from None
            if self.type == "list" and not isinstance(parsed, list):
                raise Invalid("must be a JSON list ([…])")
            return parsed
        if self.type == "dict":
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as error:
                shown = "the value" if self.secret else repr(value)
                raise Invalid(f"must be a JSON object; {shown} is not valid JSON ({error.msg})") from None
            if not isinstance(parsed, dict):
                raise Invalid("must be a JSON object ({…})")
            return parsed or None
        return value

    def validate(self) -> Any:
        """``parse()``, showing the problem next to the field (and clearing an old one)."""
        try:
            value = self.parse()
        except Invalid as error:
            self.show_error(str(error))
            raise
        self.show_error("")
        return value

    def show_error(self, message: str) -> None:
        self.error.value = field_error(message) if message else ""
        if message:
            self.box.add_class("jp-pipelines-invalid")
        else:
            self.box.remove_class("jp-pipelines-invalid")

    def clear_secret(self) -> None:
        if self.secret_input is not None:
            self.secret_input.clear()


class FieldsForm:
    """The fields of one schema as a column of :class:`FieldInput`."""

    def __init__(self, fields: Iterable[Mapping[str, Any]], values: Mapping[str, Any] | None = None,
                 *, owner: str = "") -> None:
        values = dict(values or {})
        self.owner = owner
        self.inputs: dict[str, FieldInput] = {f["name"]: FieldInput(f, values.get(f["name"])) for f in fields}
        children = [i.box for i in self.inputs.values()] or [w.HTML(help_text("No settings to choose."))]
        self.box = w.VBox(children)

    def __getitem__(self, name: str) -> FieldInput:
        return self.inputs[name]

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """``(config, problems)``: every field is checked so that all problems show at once."""
        config: dict[str, Any] = {}
        problems: list[str] = []
        for name, field in self.inputs.items():
            try:
                value = field.validate()
            except Invalid as error:
                problems.append(f"{self.owner}{name}: {error}")
                continue
            if value is not None:
                config[name] = value
        return config, problems

    def clear_secrets(self) -> None:
        for field in self.inputs.values():
            field.clear_secret()


class BackendForm:
    """A backend chooser and the chosen backend's fields (one form kept per backend)."""

    def __init__(self, kind: str, schemas: list[Mapping[str, Any]], backend: str | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self.schemas = {s["name"]: s for s in schemas}
        names = [name for name, schema in self.schemas.items() if schema.get("available", True)] or list(self.schemas)
        if backend not in self.schemas:
            backend, config = (names[0] if names else None), {}
        self._initial = {backend: dict(config or {})}
        self.forms: dict[str, FieldsForm] = {}
        options = [(_label(s), s["name"]) for s in schemas]
        self.chooser = w.Dropdown(options=options, value=backend, description=f"{kind.capitalize()} backend",
                                  style=_style(), layout=_layout())
        self.about = indented(w.HTML())
        self.fields_box = w.VBox()
        self.box = w.VBox([self.chooser, self.about, self.fields_box])
        self.chooser.observe(lambda _: self._show(), "value")
        self._show()

    @property
    def backend(self) -> str:
        return str(self.chooser.value)

    @property
    def form(self) -> FieldsForm:
        name = self.backend
        if name not in self.forms:
            self.forms[name] = FieldsForm(self.schemas[name].get("fields", []), self._initial.get(name),
                                          owner=f"{self.kind} ")
        return self.forms[name]

    @property
    def unavailable(self) -> str | None:
        """Why the chosen backend cannot run here (a missing package), with how to install it; None if it can."""
        schema = self.schemas.get(self.backend, {})
        if schema.get("available", True):
            return None
        install = f" Install it with: {schema['install']}" if schema.get("install") else ""
        return f"{self.backend} is unavailable: {schema.get('reason') or 'it cannot be loaded'}.{install}"

    def _show(self) -> None:
        problem = self.unavailable
        if problem:
            self.about.value = error_box(problem)
            self.fields_box.children = ()
            return
        self.about.value = help_text(self.schemas.get(self.backend, {}).get("description") or "")
        self.fields_box.children = (self.form.box,)

    def __getitem__(self, name: str) -> FieldInput:
        return self.form[name]

    def values(self) -> tuple[dict[str, Any], list[str]]:
        if self.unavailable:
            return {"backend": self.backend, "config": {}}, [self.unavailable]
        config, problems = self.form.values()
        return {"backend": self.backend, "config": config}, problems

    def clear_secrets(self) -> None:
        for form in self.forms.values():
            form.clear_secrets()


def _label(schema: Mapping[str, Any]) -> str:
    title = schema.get("title") or schema["name"]
    label = f"{title} ({schema['name']})" if title != schema["name"] else schema["name"]
    return label if schema.get("available", True) else f"{label} — unavailable"


def credential_fields(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The fields of a storage backend that make up an account's credentials."""
    return [dict(f) for f in schema.get("fields", []) if f.get("credential", f.get("secret"))]


class CredentialsGroup:
    """The credentials of one input artifact, titled ``<artifact> (<storage backend>)``."""

    def __init__(self, artifact: str, backend: str, schema: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None) -> None:
        self.artifact = artifact
        self.backend = backend
        config = dict(config or {})
        fields = []
        for field in credential_fields(schema):
            field["required"] = False  # the stored record may already hold them; the server checks
            fields.append(field)
        self.form = FieldsForm(fields, {k: v for k, v in config.items() if k in {f["name"] for f in fields}},
                               owner=f"credentials of {artifact}: ")
        self.title = w.HTML(f'<div style="font-weight:600;margin:6px 0 2px">{esc(artifact)} '
                            f'<span style="font-weight:400">({esc(backend)})</span></div>')
        self.box = w.VBox([self.title, self.form.box], layout=w.Layout(margin="0 0 8px 0"))

    def __getitem__(self, name: str) -> FieldInput:
        return self.form[name]

    def values(self) -> tuple[dict[str, Any], list[str]]:
        return self.form.values()

    def clear_secrets(self) -> None:
        self.form.clear_secrets()
