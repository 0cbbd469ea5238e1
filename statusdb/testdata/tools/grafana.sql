-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): getVersion
SELECT current_setting('server_version_num')::int/100 as version
;;
-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): getTimescaleDBVersion
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
;;
-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): showSchemas
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              {{grafana_timescaledb_schemas}})
    ORDER BY schema_name
;;
-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): showTables('helios_proxy')
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'helios_proxy'
      ORDER BY 1
;;
-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): showTables()
SELECT
    CASE WHEN {{grafana_schema_constraint}}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             {{grafana_timescaledb_schemas}})
    ORDER BY CASE WHEN {{grafana_schema_constraint}} THEN 0 ELSE 1 END, 1
;;
-- Grafana PostgreSQL data source (public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts): getSchema(table), for each of {{grafana_table}}
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('{{grafana_table}}'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('{{grafana_table}}'))[1]
          AND quote_ident(table_name) = (parse_ident('{{grafana_table}}'))[2]
        ELSE quote_ident(table_name) = '{{grafana_table}}'
          AND {{grafana_schema_constraint}}
      END
