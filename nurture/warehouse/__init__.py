"""The warehouse: the engines behind one interface (``engines``: DuckDB, PostgreSQL,
Spark; no module outside it branches on the target), the tables Python owns
(``owned_tables``: columns, home, migrations), dbt invocation for one run date
(``transform``), the readers every later step uses (``queries``), the raw zone loaded
into PostgreSQL (``load_postgres``) and the Spark session and tables seen from Python
(``spark``). It may import only the extract package (the raw zone's layout) and the
foundation modules (config, connections, atomic)."""
