{% macro json_text(json_column, key) -%}
    {#- The value at top-level `key` of a JSON object stored as text, as text (null when absent). -#}
    {{ return(adapter.dispatch('json_text', 'nurture')(json_column, key)) }}
{%- endmacro %}

{% macro default__json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text(json_column, key) -%}
    (cast({{ json_column }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{% macro json_integer(json_column, key) -%}
    {#-
        The value at top-level `key` as an integer (null when absent). The logs write
        whole numbers as JSON floats ("product_id": 83.0): DuckDB casts '83.0' straight
        to an integer but PostgreSQL refuses, so go through numeric on every adapter.
    -#}
    cast(cast({{ json_text(json_column, key) }} as {{ dbt.type_numeric() }}) as integer)
{%- endmacro %}

{% macro spark__json_text(json_column, key) -%}
    get_json_object({{ json_column }}, '$.{{ key }}')
{%- endmacro %}
