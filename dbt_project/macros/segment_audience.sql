{% macro segment_audience(channel, purpose) -%}
    {#-
        The customers a segment may message, from dim_customer_audience: reachable on the
        segment's channel (consent, not opted out, an address, no hard bounce or invalid
        token: is_emailable / is_smsable / is_pushable), and for a promotional segment no
        open support ticket. The one home of that rule: a seg_ model says who qualifies
        and calls this for who may be reached; the export step checks consent again from
        the segment's meta.channel (defence in depth), never with a rule of its own.
        `channel` and `purpose` must equal the model's meta.channel and meta.purpose (its
        YAML, which the exports read): a model whose two disagree does not compile.
    -#}
    {%- set reachable = {'email': 'is_emailable', 'sms': 'is_smsable', 'push': 'is_pushable'} -%}
    {%- if channel not in reachable or purpose not in ('promotional', 'service') -%}
        {{ exceptions.raise_compiler_error(
            "segment_audience: channel must be one of " ~ reachable.keys() | join(', ')
            ~ " and purpose promotional or service, got " ~ channel ~ ", " ~ purpose) }}
    {%- endif -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set meta = model.config.meta or {} -%}
        {%- if (meta.get('channel'), meta.get('purpose')) != (channel, purpose) -%}
            {{ exceptions.raise_compiler_error(
                model.name ~ ": segment_audience('" ~ channel ~ "', '" ~ purpose ~ "') but its YAML says "
                ~ "meta.channel " ~ meta.get('channel') ~ ", meta.purpose " ~ meta.get('purpose')
                ~ ": make them agree") }}
        {%- endif -%}
    {%- endif -%}
    select * from {{ ref('dim_customer_audience') }}
    where {{ reachable[channel] }}
    {%- if purpose == 'promotional' %}
        and not has_open_support_ticket
    {%- endif %}
{%- endmacro %}
