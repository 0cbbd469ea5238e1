# psycopg 3's pipeline mode: status and backend statements sent together,
# answered in order; an error in the middle and the pipeline's recovery.
import sys

import psycopg

out = []
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    with conn.pipeline():
        c1 = conn.execute("SELECT 1 AS one")
        c2 = conn.execute("SELECT backend_name, port FROM helios_proxy.backends WHERE port > %s ORDER BY 1", [5000])
        c3 = conn.execute("SELECT %s::text || 'x'", ["a"])
        c4 = conn.execute("SELECT count(*) FROM helios_proxy.circuit_events WHERE event_type = %s", ["CircuitOpened"])
    for c in (c1, c2, c3, c4):
        out.append("%s %s" % ([d.name for d in c.description], c.fetchall()))
    try:
        with conn.pipeline():
            conn.execute("SELECT 2")
            conn.execute("SELECT port / 0 FROM helios_proxy.backends")
            conn.execute("SELECT 3")
    except psycopg.Error as e:
        out.append("error %s %s" % (e.sqlstate, e.diag.message_primary))
    out.append("after %s" % conn.execute("SELECT count(*) FROM helios_proxy.backends").fetchall())
with psycopg.connect(sys.argv[1]) as conn:
    with conn.pipeline():
        conn.execute("SELECT backend_name FROM helios_proxy.backends ORDER BY 1")
        cur = conn.execute("SELECT circuit_state FROM helios_proxy.circuit_breaker_status ORDER BY backend_name")
    out.append("in transaction %s %s" % (cur.fetchall(), conn.info.transaction_status))
    conn.rollback()
print("\n".join(out))
