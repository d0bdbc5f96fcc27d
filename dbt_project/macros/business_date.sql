{% macro business_date(ts) -%}
    {#-
        The calendar day of a UTC timestamp in the shop's business time zone
        (var business_timezone, an IANA name). Lifecycle days are counted in it.
        `x at time zone 'UTC'` makes the naive UTC timestamp zone-aware, the second
        `at time zone` gives local wall-clock time: the same on DuckDB (ICU) and PostgreSQL.
    -#}
    {%- set tz = var('business_timezone', 'UTC') -%}
    {%- if tz == 'UTC' -%}
        cast({{ ts }} as date)
    {%- else -%}
        cast(({{ ts }} at time zone 'UTC') at time zone '{{ tz }}' as date)
    {%- endif -%}
{%- endmacro %}
