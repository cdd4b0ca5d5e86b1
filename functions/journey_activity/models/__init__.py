"""Pydantic models at the edges (trigger payloads) and the trigger-agnostic batch."""
