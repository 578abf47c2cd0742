"""Node.js and the npm packages of the independent counterparts (verifiers, the wallet): installed on demand with
`npm ci` from each directory's lockfile; a test is skipped only when Node.js itself is absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def node_or_skip(needed_by: str) -> str:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.skip(f"Node.js is not installed: {needed_by} needs `node` and `npm`")
    return node_bin


def npm_ci(directory: Path, marker: str) -> None:
    """`npm ci` in `directory` unless `node_modules/<marker>` (its main package) is already there."""
    if (directory / "node_modules" / marker).is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"node is installed but npm is not: cannot install the packages of {directory.name}")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"npm ci in {directory.name} failed:\n{done.stdout}\n{done.stderr}"
