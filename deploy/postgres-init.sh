#!/bin/sh
# Run once by the postgres image (official or local stand-in) on an empty data volume, as POSTGRES_USER: one
# login role and one database per service, the role owning its database and nothing else, so a service's
# password opens its own data only. Passwords come from ENROLMENT_DB_PASSWORD, BILLING_DB_PASSWORD,
# CERTIFICATION_DB_PASSWORD (docker-compose.yml passes them from .env).
set -eu
for service in enrolment billing certification; do
  variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$variable")" || { echo "$variable is not set" >&2; exit 1; }
  psql -v ON_ERROR_STOP=1 --no-psqlrc -U "$POSTGRES_USER" -d postgres -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
