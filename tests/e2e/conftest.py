"""The end-to-end suite runs on the secured broker: each service as its own principal (SASL_SSL, ACLs)."""

from tests.secured_suite import campus, harness_identity, kafka_bootstrap

__all__ = ["campus", "harness_identity", "kafka_bootstrap"]
