"""`python -m certification`: the HTTP API, the outbox relay and the consumer in one process.

`python -m certification generate-key` prints a new Ed25519 secret key (for CREDENTIAL_SIGNING_KEY) on stdout
and its public key on stderr; `generate-jwt-key` does the same for the ES256 key (CREDENTIAL_JWT_SIGNING_KEY);
`python -m certification public-key` prints the configured keys as "<SIGNING_KEY_ID>=z6Mk..." and
"<JWT_SIGNING_KEY_ID>=BA...", the forms RETIRED_PUBLIC_KEYS and RETIRED_JWT_PUBLIC_KEYS take after a rotation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from reliability.logs import configure_logging

from certification.adapters import generate_secret_key, load_private_key, public_key_multibase
from certification.adapters.jwt_keys import generate_jwt_secret, load_jwt_private_key, point_of
from certification.bootstrap import SERVICE, build, create_issuer
from certification.config import CertificationSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certification", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "generate-key", "generate-jwt-key", "public-key"],
        help="serve (default): run the service; generate-key: print a new secret signing key; generate-jwt-key: "
        "the same for the ES256 key; public-key: print the configured keys' public halves for RETIRED_PUBLIC_KEYS "
        "and RETIRED_JWT_PUBLIC_KEYS",
    )
    command = parser.parse_args(argv).command
    if command == "generate-key":
        secret = generate_secret_key()
        print(secret)
        public = public_key_multibase(load_private_key(secret).public_key())
        print(f"public key: {public}  (keep the secret out of the repository)", file=sys.stderr)
        return 0
    if command == "generate-jwt-key":
        secret = generate_jwt_secret()
        print(secret)
        point = point_of(load_jwt_private_key(secret).public_key())
        print(f"public key: {point}  (keep the secret out of the repository)", file=sys.stderr)
        return 0
    settings = CertificationSettings()
    if command == "public-key":
        if settings.credential_signing_key is None:
            print("CREDENTIAL_SIGNING_KEY is not set", file=sys.stderr)
            return 1
        issuer = create_issuer(settings)
        print(f"{issuer.key.key_id}={issuer.key.public_key_multibase}")
        print(f"{issuer.jwt_key.kid}={point_of(issuer.jwt_key.private_key.public_key())}")
        return 0
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    app, runtime = build(settings)
    asyncio.run(runtime.serve(app, settings.http_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
