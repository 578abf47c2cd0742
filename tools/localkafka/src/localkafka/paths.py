"""Where localkafka keeps jars and broker data."""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "LOCALKAFKA_HOME"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _is_workspace_root(path: Path) -> bool:
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        return "[tool.uv.workspace]" in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def repo_root() -> Path | None:
    """The uv workspace root, found from this package (editable install) or else from the cwd."""
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if _is_workspace_root(candidate):
                return candidate
    return None


def kafka_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    if root is None:
        # Installed outside the workspace: a per-user cache is the least surprising place.
        return Path.home() / ".cache" / "localkafka"
    return root / ".cache" / "kafka"


def libs_dir(home: Path | None = None) -> Path:
    return (home or kafka_home()) / "libs"


def runs_dir(home: Path | None = None) -> Path:
    return (home or kafka_home()) / "run"


def validate_name(name: str) -> str:
    # The name becomes a directory; refuse anything that could escape runs_dir().
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid broker name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return name


def run_dir(name: str, home: Path | None = None) -> Path:
    return runs_dir(home) / validate_name(name)
