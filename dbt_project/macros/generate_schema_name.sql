{% macro generate_schema_name(custom_schema_name, node) -%}
    {#-
        dbt's default schema, plus var('schema_suffix') when set: the hourly refresh
        builds its few models (tag hourly) into `<schema>_hourly`, beside the daily
        build it defers to for everything else, so neither run ever reads the other's
        half-built tables.
    -#}
    {{ default__generate_schema_name(custom_schema_name, node) | trim }}{{ var('schema_suffix', '') }}
{%- endmacro %}
