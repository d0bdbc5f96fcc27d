with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

fx_rate_ranges as (

    select * from {{ ref('int_fx_rate_ranges') }}

),

converted as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.ordered_date,
        orders.status,
        orders.is_paid,
        orders.currency,
        orders.subtotal,
        orders.discount,
        orders.total,
        orders.promo_code,
        case
            when orders.currency = '{{ var("reporting_currency") }}' then 1
            else fx_rate_ranges.rate_to_reporting
        end as fx_rate_to_reporting

    from orders

    left join fx_rate_ranges
        on orders.currency = fx_rate_ranges.currency
        and orders.ordered_date >= fx_rate_ranges.valid_from_date
        and (
            orders.ordered_date < fx_rate_ranges.valid_to_date
            or fx_rate_ranges.valid_to_date is null
        )

),

final as (

    select
        *,
        cast(round(subtotal * fx_rate_to_reporting, 2) as decimal(12, 2)) as subtotal_reporting,
        cast(round(discount * fx_rate_to_reporting, 2) as decimal(12, 2)) as discount_reporting,
        cast(round(total * fx_rate_to_reporting, 2) as decimal(12, 2)) as total_reporting

    from converted

)

select * from final
