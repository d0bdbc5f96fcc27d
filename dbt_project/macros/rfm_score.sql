{% macro rfm_score(value, cut_points, reverse=false) -%}
    {#-
        A 1-5 score from quintile cut points on the values (see the rfm_scoring docs
        block). `cut_points` are the 20/40/60/80 % cut points (SQL expressions, from
        percentile_cont). The score counts the cut points the value is above, so equal
        values always get equal scores and a value exactly on a cut point gets the lower
        score. reverse=true for recency, where fewer days is better (5 = most recent).
    -#}
    {%- set above -%}
        ({% for cut_point in cut_points -%}
            case when {{ value }} > {{ cut_point }} then 1 else 0 end
            {%- if not loop.last %} + {% endif -%}
        {%- endfor %})
    {%- endset -%}
    {%- if reverse -%}
        (5 - {{ above }})
    {%- else -%}
        (1 + {{ above }})
    {%- endif -%}
{%- endmacro %}


{% macro rfm_frequency_bin_score(frequency) -%}
    {#-
        Fixed frequency bins, used instead of quintiles when the frequency cut points
        degenerate (most customers bought once): 1, 2, 3, 4-5, 6+ paid orders -> 1..5.
    -#}
    case
        when {{ frequency }} >= 6 then 5
        when {{ frequency }} >= 4 then 4
        when {{ frequency }} = 3 then 3
        when {{ frequency }} = 2 then 2
        else 1
    end
{%- endmacro %}
