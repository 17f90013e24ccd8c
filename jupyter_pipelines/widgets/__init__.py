"""Notebook widgets: the execute dialog, the live status view of an execution, the export dialog.

They are handed the API to use (``client.Api``); none of them finds a connection itself. Importing
the package makes an ``Execution`` display as its live status view (the session, below the
widgets, cannot name its view itself).
"""
from ..session import Execution
from .execute import ExecuteDialog
from .export import ExportDialog
from .forms import BackendForm, CredentialsGroup, FieldInput, SecretInput
from .status import StatusView

__all__ = ["BackendForm", "CredentialsGroup", "ExecuteDialog", "ExportDialog", "FieldInput", "SecretInput",
           "StatusView"]

Execution.view = staticmethod(lambda execution: StatusView(execution).show())
