{% macro delete_rows_after(relation, column, cutoff) -%}
    {#-
        Remove the rows of `relation` whose `column` is after `cutoff` (a SQL date
        expression): the pre-hook of an incremental model that re-reads a lookback
        window. Returns the statement to run, or nothing where the work is done here.
    -#}
    {{ return(adapter.dispatch('delete_rows_after', 'nurture')(relation, column, cutoff)) }}
{%- endmacro %}

{% macro default__delete_rows_after(relation, column, cutoff) -%}
    delete from {{ relation }} where {{ column }} > {{ cutoff }}
{%- endmacro %}

{% macro spark__delete_rows_after(relation, column, cutoff) -%}
    {#- Parquet tables on Spark have no DELETE: the table is partitioned by `column`,
        so drop those partitions (a metadata operation per day). -#}
    {%- if execute -%}
        {%- set days = run_query(
            'select distinct cast(' ~ column ~ ' as string) from ' ~ relation
            ~ ' where ' ~ column ~ ' > ' ~ cutoff) -%}
        {%- for day in days.columns[0].values() -%}
            {%- do run_query('alter table ' ~ relation ~ ' drop if exists partition ('
                ~ column ~ " = '" ~ day ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
