{#- Sample-size arithmetic for a two-group comparison of rates (docs block
    detectable_uplift): a two-sided test at 5 % significance with 80 % power, normal
    approximation, the variance of the base rate in both groups. -#}

{% macro z_80() -%}
    0.8416212335729143
{%- endmacro %}


{#- The smallest difference of rates detectable with `entrants` customers split
    `holdout_share` to the holdout, at base rate `rate`. -#}
{% macro min_detectable_uplift(rate, entrants, holdout_share) -%}
    ({{ z_95() | float + z_80() | float }} * sqrt(
        {{ rate }} * (1 - {{ rate }}) / ({{ entrants }} * {{ holdout_share }} * (1 - {{ holdout_share }}))))
{%- endmacro %}


{#- The entrants needed to detect a difference `effect` at base rate `rate`: the
    inverse of min_detectable_uplift. -#}
{% macro entrants_to_detect(rate, effect, holdout_share) -%}
    ({{ (z_95() | float + z_80() | float) ** 2 }} * {{ rate }} * (1 - {{ rate }})
        / ({{ effect }} * {{ effect }} * {{ holdout_share }} * (1 - {{ holdout_share }})))
{%- endmacro %}
