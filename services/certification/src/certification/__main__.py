"""`python -m certification`: the HTTP API, the outbox relay and the consumer in one process.

`python -m certification generate-key` prints a new Ed25519 secret key (for CREDENTIAL_SIGNING_KEY) on stdout
and its public key on stderr; `python -m certification public-key` prints the configured key as
"<SIGNING_KEY_ID>=z6Mk...", the form RETIRED_PUBLIC_KEYS takes after a rotation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from reliability.logs import configure_logging

from certification.adapters import generate_secret_key, load_private_key, public_key_multibase
from certification.bootstrap import SERVICE, build, create_issuer
from certification.config import CertificationSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certification", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "generate-key", "public-key"],
        help="serve (default): run the service; generate-key: print a new secret signing key; "
        "public-key: print the configured key's public half for RETIRED_PUBLIC_KEYS",
    )
    command = parser.parse_args(argv).command
    if command == "generate-key":
        secret = generate_secret_key()
        print(secret)
        public = public_key_multibase(load_private_key(secret).public_key())
        print(f"public key: {public}  (keep the secret out of the repository)", file=sys.stderr)
        return 0
    settings = CertificationSettings()
    if command == "public-key":
        if settings.credential_signing_key is None:
            print("CREDENTIAL_SIGNING_KEY is not set", file=sys.stderr)
            return 1
        issuer = create_issuer(settings)
        print(f"{issuer.key.key_id}={issuer.key.public_key_multibase}")
        return 0
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app, runtime = build(settings)
    asyncio.run(runtime.serve(app, settings.http_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
