#!/bin/sh
# Runs once, when the primary's data directory is created (the postgres
# image's /docker-entrypoint-initdb.d): a role for the replica's streaming
# replication, allowed in pg_hba.conf with a password.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --set pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
