{% macro affinity_band_hits(band, skip_customers_in=none) -%}
    {#-
        One band of int_customer_affinity_picks' rule search: per customer, the best
        (lowest) rule_rank among the rules in the band whose antecedent they own and
        whose consequent they do not. `band` is a condition on ranked_rules.rule_rank;
        `skip_customers_in` names a CTE of customers an earlier band already served.
        Expects the model's CTEs `owned` (customer_id, product_id) and `ranked_rules`.

        Why a macro: the search is split in bands only for speed (see the model), so
        every band must apply the same "owns A, not B" rule; written once, the bands
        cannot drift apart.
    -#}
    select
        owned.customer_id,
        min(ranked_rules.rule_rank) as rule_rank

    from owned

    inner join ranked_rules
        on owned.product_id = ranked_rules.antecedent_product_id
        and {{ band }}

    left join owned as already_owned
        on owned.customer_id = already_owned.customer_id
        and ranked_rules.consequent_product_id = already_owned.product_id

    {% if skip_customers_in %}
    left join {{ skip_customers_in }}
        on owned.customer_id = {{ skip_customers_in }}.customer_id
    {% endif %}

    where already_owned.product_id is null
    {% if skip_customers_in %}
        and {{ skip_customers_in }}.customer_id is null
    {% endif %}

    group by owned.customer_id
{%- endmacro %}
