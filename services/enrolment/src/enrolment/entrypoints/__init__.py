"""The doors into the enrolment service: the consumer of enrolment.events (kafka) and the HTTP API (http)."""
