#!/bin/sh
# The replica: on first start, a base backup of the primary with -R
# (standby.signal and primary_conninfo), then PostgreSQL as a hot standby.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	until pg_isready -q -h "$PRIMARY_HOST" -U postgres; do sleep 1; done
	PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -U replicator \
		-D "$PGDATA" -R -X stream -c fast
	chmod 0700 "$PGDATA"
fi
exec postgres -D "$PGDATA" -c hot_standby=on
