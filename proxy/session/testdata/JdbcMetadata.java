// PostgreSQL's JDBC driver on the helios_proxy schema as DBeaver, Metabase
// and other JDBC tools use it: DatabaseMetaData, and a query read with a
// fetch size (the driver's Execute with a row limit in a transaction).
import java.sql.*;
import java.util.*;

public class JdbcMetadata {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", "reader");
        props.setProperty("password", "unused");
        List<String> out = new ArrayList<>();
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData md = conn.getMetaData();
            out.add("product " + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
            dump(out, "schemas", md.getSchemas(null, "helios_proxy"));
            dump(out, "tables", md.getTables(null, "helios_proxy", "%", new String[] {"TABLE", "VIEW"}));
            dump(out, "columns", md.getColumns(null, "helios_proxy", "backends", "%"));
            dump(out, "columns", md.getColumns(null, "helios_proxy", "circuit_events", "%"));
            dump(out, "pk", md.getPrimaryKeys(null, "helios_proxy", "backends"));
            dump(out, "fks", md.getImportedKeys(null, "helios_proxy", "backends"));
            dump(out, "indexes", md.getIndexInfo(null, "helios_proxy", "backends", false, true));
            // Types outside the driver's built-in table (interval) are
            // looked up in pg_type, comparing typinput with a regproc.
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(
                    "SELECT backend_name, state_since - last_failure_time AS since_failure FROM helios_proxy.circuit_breaker_status ORDER BY backend_name")) {
                ResultSetMetaData m = rs.getMetaData();
                out.add("interval column " + m.getColumnTypeName(2) + " " + m.getColumnType(2) + " " + m.getColumnClassName(2));
                while (rs.next()) {
                    out.add("since_failure " + rs.getString(1) + " " + rs.getObject(2));
                }
            }
            ResultSet types = md.getTypeInfo();
            while (types.next()) {
                String name = types.getString("TYPE_NAME");
                if (List.of("int4", "text", "float8", "timestamptz", "interval", "_int4", "numeric").contains(name)) {
                    out.add("type " + name + " " + types.getInt("DATA_TYPE") + " " + types.getInt("PRECISION"));
                }
            }
            types.close();
            // DBeaver's read-only connections: BEGIN READ ONLY.
            conn.setReadOnly(true);
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SHOW transaction_read_only")) {
                rs.next();
                out.add("read only transaction " + rs.getString(1));
            }
            conn.commit();
            conn.setReadOnly(false);
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT id, event_type, event_time FROM helios_proxy.circuit_events WHERE id > ? ORDER BY id")) {
                ps.setFetchSize(2);
                ps.setLong(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add("fetch " + rs.getLong(1) + " " + rs.getString(2) + " " + rs.getTimestamp(3).toInstant());
                    }
                }
            }
            conn.commit();
        }
        for (String line : out) {
            System.out.println(line);
        }
    }

    static void dump(List<String> out, String what, ResultSet rs) throws SQLException {
        ResultSetMetaData m = rs.getMetaData();
        while (rs.next()) {
            StringBuilder b = new StringBuilder(what);
            for (int i = 1; i <= m.getColumnCount(); i++) {
                b.append(' ').append(m.getColumnLabel(i)).append('=').append(rs.getString(i));
            }
            out.add(b.toString());
        }
        rs.close();
    }
}
