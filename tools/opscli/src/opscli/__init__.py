"""Operator CLI for the Kafka side of the platform: `uv run python -m opscli --help` (or `mc-ops`)."""

from opscli.cli import amain, main

__all__ = ["amain", "main"]
