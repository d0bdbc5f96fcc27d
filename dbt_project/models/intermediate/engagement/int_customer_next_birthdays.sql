-- The next birthday on or after the run date. Adding whole years to the date of birth
-- lands 29 February on 28 February in other years, on DuckDB and PostgreSQL alike.
with

customers as (

    select * from {{ ref('stg_shop__customers') }}
    where birthday is not null

),

this_year as (

    select
        customer_id,
        birthday,
        cast({{ dbt.dateadd(
            'year',
            'cast(extract(year from ' ~ run_date() ~ ') - extract(year from birthday) as integer)',
            'birthday'
        ) }} as date) as birthday_this_year,
        cast({{ dbt.dateadd(
            'year',
            'cast(extract(year from ' ~ run_date() ~ ') - extract(year from birthday) + 1 as integer)',
            'birthday'
        ) }} as date) as birthday_next_year

    from customers

),

next_birthdays as (

    select
        customer_id,
        birthday,
        case
            when birthday_this_year >= {{ run_date() }} then birthday_this_year
            else birthday_next_year
        end as next_birthday_date

    from this_year

),

final as (

    select
        customer_id,
        next_birthday_date,
        {{ dbt.datediff(run_date(), 'next_birthday_date', 'day') }} as days_until_birthday,
        cast(extract(year from next_birthday_date) - extract(year from birthday) as integer)
            as turning_age

    from next_birthdays

)

select * from final
