# SQLAlchemy's reflection of the helios_proxy schema over asyncpg
# (postgresql+asyncpg://): asyncpg sends every value as a typed parameter
# ($1::INTEGER for a table's OID) with binary results. Prints what it
# finds, one line per item, for the test to compare with PostgreSQL's.
import asyncio
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

SCHEMA = "helios_proxy"


def reflect(conn):
    insp = sa.inspect(conn)
    out = ["tables %s" % insp.get_table_names(schema=SCHEMA)]
    for t in insp.get_table_names(schema=SCHEMA):
        out.append("comment %s %s" % (t, insp.get_table_comment(t, schema=SCHEMA)))
        for c in insp.get_columns(t, schema=SCHEMA):
            out.append("column %s %s %s nullable=%s" % (t, c["name"], c["type"], c["nullable"]))
        out.append("pk %s %s" % (t, insp.get_pk_constraint(t, schema=SCHEMA)))
    status = sa.Table("circuit_breaker_status", sa.MetaData(), schema=SCHEMA, autoload_with=conn)
    rows = conn.execute(sa.select(status.c.backend_name, status.c.circuit_state)
                        .where(status.c.port > 5000).order_by(status.c.backend_name)).all()
    out.append("select %s" % rows)
    return out


async def main():
    engine = create_async_engine(sys.argv[1])
    async with engine.connect() as conn:
        out = await conn.run_sync(reflect)
    await engine.dispose()
    print("\n".join(out))


asyncio.run(main())
