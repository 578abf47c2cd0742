"""The doors into certification: the consumed topics (`kafka`) and the HTTP API (`http`)."""
