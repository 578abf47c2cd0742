"""The Node.js verifier of the SD-JWT VC edition (OpenWallet Foundation's @sd-jwt): installed on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certification.node_packages import node_or_skip, npm_ci

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node() -> str:
    node_bin = node_or_skip("the SD-JWT VC verifier (verify.mjs)")
    npm_ci(HERE, "@sd-jwt/sd-jwt-vc")
    return node_bin
