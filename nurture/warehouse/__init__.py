"""The warehouse engines: dbt invocation for one run date (``transform``), small reads
and Nurture's own tables on DuckDB, PostgreSQL or Spark (``queries``), the raw zone
loaded into PostgreSQL (``load_postgres``) and the Spark target seen from Python
(``spark``). It may import only the extract package (the raw zone's layout) and the
foundation modules (config, connections, atomic)."""
