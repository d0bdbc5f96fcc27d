{% macro latest_version(relation, key_columns) -%}
    {#-
        The latest version of each key among the raw-zone rows in `relation`:
        latest updated_at wins; ties go to the later partition (dt), then the later
        file and row in it (filename, file_row_number from read_parquet), so the
        pick is deterministic. `relation` is a CTE already limited to dt <= run_date.
        DISTINCT ON runs on DuckDB and PostgreSQL alike.
    -#}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    select distinct on ({{ keys | join(', ') }}) *
    from {{ relation }}
    order by {{ keys | join(', ') }}, updated_at desc, dt desc, filename desc, file_row_number desc
{%- endmacro %}
