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
