"""Outbound things other than the database: the catalogue's YAML files."""
