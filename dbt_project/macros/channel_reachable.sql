{% macro channel_reachable(consent, consent_at, address, unsubscribed_at, unreachable_at) -%}
    {#-
        THE one place where "may this customer get messages on this channel" is decided
        (see the `channel_reachability` docs block); dim_customers calls it once per
        channel. Arguments are column expressions:
          consent          the shop's consent flag (consent_<channel>)
          consent_at       when it was last given or withdrawn (consent_<channel>_at)
          address          the channel's address (email, phone, push_token)
          unsubscribed_at  the latest unsubscribe from the channel (null when none)
          unreachable_at   the latest permanent failure: an email or SMS hard bounce,
                           a push token reported invalid (null when none)
        An unsubscribe counts unless the consent was given again after it; a permanent
        failure always counts. Never null: a missing consent or address is a no.
    -#}
    coalesce(
        {{ consent }}
        and {{ address }} is not null
        and ({{ unsubscribed_at }} is null or {{ unsubscribed_at }} < {{ consent_at }})
        and {{ unreachable_at }} is null,
        false
    )
{%- endmacro %}
