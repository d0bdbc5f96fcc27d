{#- 95 % score intervals for proportions: they hold for small groups and for rates near 0
    or 1, where the normal approximation (Wald) gives zero-width or impossible bounds
    (docs block uplift_intervals). Plain arithmetic: the same SQL on every engine. -#}

{% macro z_95() -%}
    1.959963984540054
{%- endmacro %}


{#- Wilson's score interval of successes / trials, its 'low' or 'high' end. -#}
{% macro wilson_bound(successes, trials, bound) -%}
    {%- set z = z_95() | float -%}
    (({{ successes }} + {{ z * z / 2 }})
        {{ '-' if bound == 'low' else '+' }} {{ z }}
        * sqrt({{ successes }} * ({{ trials }} - {{ successes }}) * 1.0 / {{ trials }} + {{ z * z / 4 }}))
    / ({{ trials }} + {{ z * z }})
{%- endmacro %}


{#- Newcombe's hybrid score interval (1998, method 10) of the difference x1/n1 - x0/n0,
    its 'low' or 'high' end: each rate's distance to its own Wilson bound, combined. -#}
{% macro newcombe_difference_bound(x1, n1, x0, n0, bound) -%}
    {%- set p1 = '(' ~ x1 ~ ' * 1.0 / ' ~ n1 ~ ')' -%}
    {%- set p0 = '(' ~ x0 ~ ' * 1.0 / ' ~ n0 ~ ')' -%}
    {%- if bound == 'low' -%}
    ({{ p1 }} - {{ p0 }} - sqrt(
        power({{ p1 }} - {{ wilson_bound(x1, n1, 'low') }}, 2)
        + power({{ wilson_bound(x0, n0, 'high') }} - {{ p0 }}, 2)))
    {%- else -%}
    ({{ p1 }} - {{ p0 }} + sqrt(
        power({{ wilson_bound(x1, n1, 'high') }} - {{ p1 }}, 2)
        + power({{ p0 }} - {{ wilson_bound(x0, n0, 'low') }}, 2)))
    {%- endif -%}
{%- endmacro %}
