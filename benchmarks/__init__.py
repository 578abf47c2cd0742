"""Benchmarks run on demand (not tests): `uv run python -m benchmarks.billing_pipeline --help`."""
