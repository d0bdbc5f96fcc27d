{% macro as_of_at() -%}
    {#-
        The moment the run sees the data up to, as a SQL timestamp (UTC): the end of
        the run date for the daily run, or the end of hour var('run_hour') of the run
        date for the hourly refresh (the data interval's end in both cases).
    -#}
    {%- set hour = var('run_hour', none) -%}
    {%- if hour is none -%}
        cast({{ dbt.dateadd('day', 1, run_date()) }} as timestamp)
    {%- else -%}
        {%- if hour | string not in range(24) | map('string') | list -%}
            {{ exceptions.raise_compiler_error("var('run_hour') must be 0..23, got '" ~ hour ~ "'") }}
        {%- endif -%}
        cast({{ dbt.dateadd('hour', (hour | int) + 1, run_date()) }} as timestamp)
    {%- endif -%}
{%- endmacro %}
