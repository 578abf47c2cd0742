"""Alembic scripts of the billing service, shipped as package data: upgrade_to_head(url, "billing:migrations")."""
