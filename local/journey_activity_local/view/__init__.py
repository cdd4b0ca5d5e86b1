"""The execution view: one self-contained HTML page of a batch's execution.

``model`` reads an execution's history events (as ``GetExecutionHistory`` returns them, from AWS
or from the local engine), its state machine definition and, where available, its ledger records,
into plain data; ``page`` renders that data as one HTML file with inline CSS, JavaScript and SVG;
``sources`` loads an execution from a history file or from a deployed execution's ARN.
"""

from __future__ import annotations

from journey_activity_local.view.model import ExecutionView, build_model
from journey_activity_local.view.page import render_page

__all__ = ["ExecutionView", "build_model", "render_page"]
