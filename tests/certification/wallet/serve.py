"""The certification service's HTTP side as its own uvicorn process, configured from the environment exactly as
`python -m certification` is (CertificationSettings, create_issuer, a migrated database), without the Kafka
runtime: the wallet test feeds the completion events through the service's own handlers in the test process,
into the same database. Run as `python serve.py` with DATABASE_URL, PUBLIC_BASE_URL, HTTP_PORT, ... set."""

from __future__ import annotations

import uvicorn
from certification.bootstrap import create_issuer
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.store import Database


def main() -> None:
    settings = CertificationSettings()
    app = create_app(settings, Database.connect(settings.database_url), create_issuer(settings))
    app.state.canonical_workers.warm()  # as bootstrap.build does: POST /verify's workers up before the first call
    uvicorn.run(app, host="127.0.0.1", port=settings.http_port, log_level="warning")


if __name__ == "__main__":
    main()
