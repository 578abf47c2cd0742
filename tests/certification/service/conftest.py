"""The OpenID4VCI tests' fixtures: a wallet-facing app whose issuer has a clock the test moves."""

from tests.certification.oid4vci_support import clock, published, wallet_client, wallet_issuer  # noqa: F401
