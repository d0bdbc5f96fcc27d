{% macro run_date() -%}
    {#-
        The run's logical date as a SQL date literal, from var('run_date').
        Every as-of rule uses this, never now() / current_date, so reruns of the
        same date are reproducible. Fails early on anything but YYYY-MM-DD.
    -#}
    {%- set value = var('run_date') | string -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var('run_date') must be YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}
