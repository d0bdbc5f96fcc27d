-- One row per (segment, entry_date), and counts that add up: returns the offending rows.
select
    segment,
    entry_date,
    count(*) as rows_for_key

from {{ ref('fct_campaign_uplift') }}

group by segment, entry_date

having count(*) > 1
    or max(exported_customers) > max(treated_customers)
    or max(treated_buyers) > max(treated_customers)
    or max(holdout_buyers) > max(holdout_customers)
    or max(days_observed) > max(window_days)
