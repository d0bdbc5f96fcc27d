{% macro stage_history_keep_through(order_versions, customer_versions) -%}
    {#-
        The last day of int_customer_daily_stages that an incremental run keeps, as a
        date literal; the run deletes the later days and builds them again up to the
        run date (see the `incremental_stage_history` docs block).

        A day's rows depend on every purchase up to that day, and (through the
        shop-wide median gap) on every customer's. So the rebuild starts at the earliest
        day that the raw partitions between what the table was built with (its last
        day, W) and what this run sees (the run date, D) touch: the order dates of every
        version of an order that arrived in those partitions (a refund or correction
        re-opens the day of the order, also its date before a correction), and the
        signup day of a customer new in them or whose signup day changed. Rerunning an
        older date (D < W) takes back what arrived after it. Erasure rewinds the table
        itself (nurture.privacy.erasure). Full refresh: the day before var history_start_date.
    -#}
    {%- set history_start = modules.datetime.date.fromisoformat(var('history_start_date')) -%}
    {%- set day = modules.datetime.timedelta(days=1) -%}
    {%- set run_day = modules.datetime.date.fromisoformat(run_date_value()) -%}
    {%- set keep = history_start - day -%}
    {%- if execute and is_incremental() -%}
        {%- set built = run_query('select max(as_of_date) from ' ~ this).columns[0].values()[0] -%}
        {%- if built is not none -%}
            {%- set built = modules.datetime.date.fromisoformat((built | string)[:10]) -%}
            {#- The partitions that differ: (W, D] going forward, (D, W] going back, D on a rerun. -#}
            {%- set first = built + day if built < run_day else (run_day + day if built > run_day else run_day) -%}
            {%- set last = [built, run_day] | max -%}
            {%- set touched = run_query(stage_history_touched_sql(order_versions, customer_versions, first, last)) -%}
            {%- set earliest = touched.columns[0].values()[0] -%}
            {%- set keep = [built, run_day] | min -%}
            {%- if earliest is not none -%}
                {%- set keep = [keep, modules.datetime.date.fromisoformat((earliest | string)[:10]) - day] | min -%}
            {%- endif -%}
            {%- set keep = [keep, history_start - day] | max -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(keep.isoformat()) }}
{%- endmacro %}

{% macro stage_history_touched_sql(order_versions, customer_versions, first, last) -%}
    {#- The earliest business day touched by what arrived in partitions [first, last]. -#}
    select min(touched_date) from (

        select {{ business_date('ordered_at') }} as touched_date
        from {{ order_versions }}
        where arrived_date <= cast('{{ last }}' as date)
            and order_id in (
                select order_id from {{ order_versions }}
                where arrived_date between cast('{{ first }}' as date) and cast('{{ last }}' as date)
            )

        union all

        select min({{ business_date('signed_up_at') }}) as touched_date
        from {{ customer_versions }}
        where arrived_date <= cast('{{ last }}' as date)
            and customer_id in (
                select customer_id from {{ customer_versions }}
                where arrived_date between cast('{{ first }}' as date) and cast('{{ last }}' as date)
            )
        group by customer_id
        having min(arrived_date) >= cast('{{ first }}' as date)
            or count(distinct {{ business_date('signed_up_at') }}) > 1

    ) as touched
{%- endmacro %}

{% macro rewind_stage_history() -%}
    {#- The incremental stage history's pre-hook: delete the days after the kept one. -#}
    {%- set keep = stage_history_keep_through(ref('base_shop__orders'), ref('base_shop__customers')) -%}
    {%- do log(this.identifier ~ ": keeps the days through " ~ keep ~ ", builds the days after it to "
        ~ run_date_value(), info=True) -%}
    {{ delete_rows_after(this, 'as_of_date', "cast('" ~ keep ~ "' as date)") }}
{%- endmacro %}
