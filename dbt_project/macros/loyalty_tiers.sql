{#-
    THE one place where loyalty tiers are decided (see the loyalty_tier docs block):
    a tier is a function of the rolling 365-day paid spend in the reporting currency,
    each threshold inclusive (spend >= var loyalty_tier_<tier>_spend). Every customer
    is a member: below Silver, including no spend at all, is Bronze.
-#}

{% macro loyalty_tier(spend) -%}
    case
        when {{ spend }} >= {{ var('loyalty_tier_platinum_spend') }} then 'Platinum'
        when {{ spend }} >= {{ var('loyalty_tier_gold_spend') }} then 'Gold'
        when {{ spend }} >= {{ var('loyalty_tier_silver_spend') }} then 'Silver'
        else 'Bronze'
    end
{%- endmacro %}


{% macro loyalty_tier_rank(tier) -%}
    {#- 1 (Bronze) .. 4 (Platinum), to compare tiers. -#}
    case {{ tier }}
        when 'Bronze' then 1
        when 'Silver' then 2
        when 'Gold' then 3
        when 'Platinum' then 4
    end
{%- endmacro %}


{% macro loyalty_next_tier(tier) -%}
    {#- The tier above `tier`; null for Platinum, the top. -#}
    case {{ tier }}
        when 'Bronze' then 'Silver'
        when 'Silver' then 'Gold'
        when 'Gold' then 'Platinum'
    end
{%- endmacro %}


{% macro loyalty_next_tier_spend(tier) -%}
    {#- The rolling spend at which the tier above `tier` starts; null for Platinum. -#}
    case {{ tier }}
        when 'Bronze' then {{ var('loyalty_tier_silver_spend') }}
        when 'Silver' then {{ var('loyalty_tier_gold_spend') }}
        when 'Gold' then {{ var('loyalty_tier_platinum_spend') }}
    end
{%- endmacro %}
