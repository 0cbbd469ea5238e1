# SQLAlchemy's reflection of the helios_proxy schema, as an ORM or a tool
# built on it (Superset, Alembic autogenerate) runs it: prints what it
# finds, one line per item, for the test to compare with PostgreSQL's.
import sys

import sqlalchemy as sa

engine = sa.create_engine(sys.argv[1])
insp = sa.inspect(engine)
out = []
out.append("schemas %s" % sorted(s for s in insp.get_schema_names() if s == "helios_proxy"))
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
