-- The BG/NBD and Gamma-Gamma models count purchase DAYS: several orders on one day are
-- one transaction (as in the CDNOW data the models were published on), and the first
-- day is not a repeat purchase.
with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ run_date() }}

),

marked as (

    select
        customer_id,
        purchase_date,
        revenue_reporting,
        min(purchase_date) over (partition by customer_id) as first_purchase_date

    from purchase_days

),

customers as (

    select
        customer_id,
        min(first_purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) - 1 as frequency,
        sum(case when purchase_date > first_purchase_date then revenue_reporting end) as repeat_revenue

    from marked
    group by customer_id

),

final as (

    select
        customer_id,
        {{ run_date() }} as run_date,
        first_purchase_date,
        last_purchase_date,
        frequency,
        {{ dbt.datediff('first_purchase_date', 'last_purchase_date', 'day') }} as recency_days,
        {{ dbt.datediff('first_purchase_date', run_date(), 'day') }} as t_days,
        -- Cast (6 decimals) so both engines round alike: a decimal divided by an integer
        -- is a double on DuckDB and an exact numeric on PostgreSQL.
        case
            when frequency > 0 then cast(repeat_revenue / frequency as {{ dbt.type_numeric() }})
        end as monetary_value

    from customers

)

select * from final
