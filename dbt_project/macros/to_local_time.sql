{% macro to_local_time(ts, tz) -%}
    {#-
        Wall-clock time in the IANA time zone `tz` (a column or a quoted literal) of `ts`,
        a naive timestamp in UTC, as a naive timestamp. Daylight saving time follows the
        zone's rules on each date. Used for "what hour does this customer act at".
    -#}
    {{ return(adapter.dispatch('to_local_time', 'nurture')(ts, tz)) }}
{%- endmacro %}

{% macro default__to_local_time(ts, tz) -%}
    {#- PostgreSQL (and the SQL standard): `at time zone` on a naive timestamp reads it as
        wall-clock time in that zone (giving a timestamptz); on a timestamptz it gives the
        wall-clock time in that zone. -#}
    (({{ ts }}) at time zone 'UTC') at time zone ({{ tz }})
{%- endmacro %}

{% macro duckdb__to_local_time(ts, tz) -%}
    {#- ICU's timezone(): the inner call reads the naive value as UTC, the outer one gives
        local wall-clock time. A single timezone(tz, ts) would do the opposite (read ts as
        local time), a classic off-by-the-offset mistake. -#}
    timezone({{ tz }}, timezone('UTC', {{ ts }}))
{%- endmacro %}

{% macro spark__to_local_time(ts, tz) -%}
    from_utc_timestamp({{ ts }}, {{ tz }})
{%- endmacro %}
