"""Fixtures for the Node.js interop tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certification.node_packages import node_or_skip, npm_ci

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node() -> str:
    node_bin = node_or_skip("the interop verifier (verify.mjs)")
    npm_ci(HERE, "@digitalbazaar/vc")
    return node_bin
