{% macro create_raw_zone_views() -%}
    {#-
        On Spark the shop and events sources are views over the raw zone's Parquet
        (NURTURE_RAW_DIR, a local path or an object-store URL), made before every run so
        they always see the latest partitions. They add what staging's tie-break needs
        and DuckDB's read_parquet gives: dt (the hive partition), filename and
        file_row_number (Spark's hidden _metadata columns). Other adapters: nothing
        (DuckDB reads the files through external_location, PostgreSQL loaded tables).
    -#}
    {%- if target.type == 'spark' and execute -%}
        {%- set raw_dir = env_var('NURTURE_RAW_DIR') -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() if source.source_name in ('shop', 'events') -%}
            {%- if source.schema not in schemas -%}
                {%- do run_query('create schema if not exists ' ~ source.schema) -%}
                {%- do schemas.append(source.schema) -%}
            {%- endif -%}
            {%- do run_query(
                'create or replace view ' ~ source.schema ~ '.' ~ source.identifier ~ ' as'
                ~ ' select *, _metadata.file_path as filename, _metadata.row_index as file_row_number'
                ~ ' from parquet.`' ~ raw_dir ~ '/' ~ source.identifier ~ '`'
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
