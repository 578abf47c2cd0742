"""Billing's outbound things other than the database: the cancellation-policy files."""
