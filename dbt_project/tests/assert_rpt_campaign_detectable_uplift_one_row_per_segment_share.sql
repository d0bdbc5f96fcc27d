-- One row per (segment, holdout_share), one current share per segment, and figures that
-- can be read: returns the offending segments.
select
    segment,
    count(*) as share_rows,
    count(distinct holdout_share) as shares,
    sum(case when is_current_share then 1 else 0 end) as current_shares

from {{ ref('rpt_campaign_detectable_uplift') }}

group by segment

having count(*) <> count(distinct holdout_share)
    or sum(case when is_current_share then 1 else 0 end) <> 1
    or min(min_detectable_uplift) <= 0
    or min(days_to_detect_target) < 1
    or max(holdout_share) >= 1
    or min(holdout_share) <= 0
    or max(case when (min_detectable_uplift is null) = (null_reason is null) then 1 else 0 end) = 1
