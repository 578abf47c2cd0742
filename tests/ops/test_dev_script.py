"""`./dev`'s Debian installs are quiet unless they fail (chromium's dpkg progress filled the first screen)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_APT = """#!/bin/sh
# apt-get as far as ./dev sees it: progress on stdout, then the exit status the test asks for.
[ "$1" = update ] && exit 0
i=0; while [ $i -lt 300 ]; do echo "Unpacking chromium-common ($i) ..."; i=$((i+1)); done
echo "Progress: [ 50%]"
[ -n "$FAIL" ] && { echo "E: Unable to fetch some archives" >&2; exit 100; }
exit 0
"""


def run_apt_install(tmp_path: Path, fail: bool) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "apt-get").write_text(FAKE_APT)
    (bin_dir / "apt-get").chmod(0o755)
    script = f"set -euo pipefail; eval \"$(sed -n '/^apt_install()/,/^}}/p' {ROOT / 'dev'})\"; apt_install chromium"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **({"FAIL": "1"} if fail else {})}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_a_successful_install_prints_nothing(tmp_path):
    done = run_apt_install(tmp_path, fail=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_a_failed_install_shows_the_error_and_only_the_end_of_the_log(tmp_path):
    done = run_apt_install(tmp_path, fail=True)
    assert done.returncode != 0
    assert "E: Unable to fetch some archives" in done.stderr
    assert len(done.stderr.splitlines()) <= 20
