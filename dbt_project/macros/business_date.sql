{% macro business_date(ts) -%}
    {#-
        The calendar day of a UTC timestamp in the shop's business time zone
        (var business_timezone, an IANA name). Lifecycle days are counted in it.
        Wall-clock time in that zone (to_local_time), as a date.
    -#}
    {%- set tz = var('business_timezone', 'UTC') -%}
    {%- if tz == 'UTC' -%}
        cast({{ ts }} as date)
    {%- else -%}
        cast({{ to_local_time(ts, "'" ~ tz ~ "'") }} as date)
    {%- endif -%}
{%- endmacro %}
