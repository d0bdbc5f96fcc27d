{% macro type_double() -%}
    {#- A 64-bit float column type. dbt.type_float() is a 32-bit REAL on DuckDB, and
        Spark has no `double precision`. -#}
    {{ return(adapter.dispatch('type_double', 'nurture')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}
