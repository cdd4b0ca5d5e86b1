"""A journey custom-channel activity run by AWS Step Functions."""

from __future__ import annotations

__version__ = "0.1.0"
