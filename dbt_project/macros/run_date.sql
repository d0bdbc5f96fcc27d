{% macro run_date_value() -%}
    {#-
        The run's logical date, 'YYYY-MM-DD'. Every as-of rule uses it (through
        run_date()), never now() / current_date, so reruns of a date are reproducible.

        From var('run_date') when one is given (a unit test's override, or
        `dbt build --vars '{run_date: ...}'` by hand), else from the environment
        variable NURTURE_RUN_DATE, which the pipeline sets for each build. The
        environment is read only while executing: the parsed project never depends on
        the date, so each day's build reuses the previous one's parse (a var that
        changes makes dbt parse the whole project again, about 4 seconds). A bare
        build without either is as of 2025-12-31, the sample shop's last day.
    -#}
    {%- set value = (given_run_date() or '2025-12-31') | string -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value) -%}
        {{ exceptions.raise_compiler_error("the run date (NURTURE_RUN_DATE or var run_date) must be YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro given_run_date() -%}
    {#- The run date given to this build, or '' (see run_date_value). -#}
    {{ return(var('run_date', none) or (env_var('NURTURE_RUN_DATE', '') if execute else '')) }}
{%- endmacro %}

{% macro run_date() -%}
    {#- The run's logical date as a SQL date literal (see run_date_value). -#}
    cast('{{ run_date_value() }}' as date)
{%- endmacro %}

{% macro run_date_relation() -%}
    {#-
        The one-row table holding the run date for data tests' `where` filters, which
        dbt renders when it parses (so they cannot read the date themselves): written
        by the on-run-start hook record_run_date(), null on a bare build (no date given:
        the tests check every row).
    -#}
    {{ target.schema }}.nurture_run_date
{%- endmacro %}

{% macro record_run_date() -%}
    {#- on-run-start: the run date as a one-row table (see run_date_relation). -#}
    create table {{ run_date_relation() }} {{ 'using parquet' if target.type == 'spark' }} as
    select cast({{ "'" ~ run_date_value() ~ "'" if given_run_date() else 'null' }} as date) as run_date
{%- endmacro %}
