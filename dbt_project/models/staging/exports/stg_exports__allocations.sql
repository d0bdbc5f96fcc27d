{{ config(materialized='view') }}

-- Who was a candidate for which segment at each run, and how they were allocated (the
-- export step's state). A view: no copy of the candidates to keep or erase. Before the
-- first export there is no such table: no rows then.
{%- set allocations = load_relation(source('exports', 'allocations')) %}

with

{% if allocations is not none -%}

source as (

    select * from {{ allocations }}

),

final as (

    select
        run_date,
        run_hour,
        segment,
        customer_id,
        status

    from source

)

{%- else -%}

final as (

    select
        cast(null as date) as run_date,
        cast(null as {{ dbt.type_int() }}) as run_hour,
        cast(null as {{ dbt.type_string() }}) as segment,
        cast(null as {{ dbt.type_bigint() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as status
    where 1 = 0

)

{%- endif %}

select * from final
