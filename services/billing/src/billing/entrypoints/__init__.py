"""Billing's doors: the Kafka consumer's handlers and the HTTP API."""
