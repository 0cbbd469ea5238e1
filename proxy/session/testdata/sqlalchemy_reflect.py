# SQLAlchemy's reflection of the helios_proxy schema, as an ORM or a tool
# built on it (Superset, Alembic autogenerate) runs it: prints what it
# finds, one line per item, for the test to compare with PostgreSQL's.
import sys

import sqlalchemy as sa

engine = sa.create_engine(sys.argv[1])
insp = sa.inspect(engine)
out = []
# get_schema_names' query names no helios_proxy object, so on a backend
# database the backend answers it (the proxy intercepts only statements
# that name the schema or its OIDs); has_schema's query names it.
with engine.connect() as conn:
    out.append("has_schema %s" % engine.dialect.has_schema(conn, "helios_proxy"))
tables = insp.get_table_names(schema="helios_proxy")
out.append("tables %s" % tables)
out.append("views %s" % insp.get_view_names(schema="helios_proxy"))
for t in tables:
    out.append("comment %s %s" % (t, insp.get_table_comment(t, schema="helios_proxy")))
    for c in insp.get_columns(t, schema="helios_proxy"):
        out.append("column %s %s %s nullable=%s default=%s comment=%s" % (
            t, c["name"], c["type"], c["nullable"], c["default"], c.get("comment")))
    out.append("pk %s %s" % (t, insp.get_pk_constraint(t, schema="helios_proxy")))
    out.append("fks %s %s" % (t, insp.get_foreign_keys(t, schema="helios_proxy")))
    out.append("indexes %s %s" % (t, insp.get_indexes(t, schema="helios_proxy")))
    out.append("unique %s %s" % (t, insp.get_unique_constraints(t, schema="helios_proxy")))
    out.append("checks %s %s" % (t, insp.get_check_constraints(t, schema="helios_proxy")))
meta = sa.MetaData()
status = sa.Table("circuit_breaker_status", meta, schema="helios_proxy", autoload_with=engine)
with engine.connect() as conn:
    rows = conn.execute(sa.select(status.c.backend_name, status.c.circuit_state)
                        .where(status.c.port > 5000).order_by(status.c.backend_name)).all()
    out.append("select %s" % rows)
print("\n".join(out))
