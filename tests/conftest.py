"""The single top-level conftest: it only registers shared fixture modules.

Keep fixtures out of this file; put them in a module next to the tests that use them, or in a
shared module listed here.
"""

pytest_plugins = ["tests.kafka_fixtures", "tests.db_fixtures"]
