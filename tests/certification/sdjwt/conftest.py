"""The Node.js verifier of the SD-JWT VC edition (OpenWallet Foundation's @sd-jwt): installed on demand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node() -> str:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.skip("Node.js is not installed: the SD-JWT VC verifier (verify.mjs) needs `node` and `npm`")
    if not (HERE / "node_modules" / "@sd-jwt" / "sd-jwt-vc").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node is installed but npm is not: cannot install the SD-JWT VC verifier")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node_bin
