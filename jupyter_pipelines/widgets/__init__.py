"""Notebook widgets: the execute dialog, the live status view of an execution, the export dialog."""
from .execute import ExecuteDialog
from .export import ExportDialog
from .forms import BackendForm, CredentialsGroup, FieldInput, SecretInput
from .status import StatusView

__all__ = ["BackendForm", "CredentialsGroup", "ExecuteDialog", "ExportDialog", "FieldInput", "SecretInput",
           "StatusView"]
