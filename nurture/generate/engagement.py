"""Engagement events: email campaigns, sessions, carts, push, surveys, support, and
the opt-outs of every channel (email, SMS, push).

Engagement follows buying: a customer's open and browse rates grow with their
purchase rate. Each event gets an arrival time; about 2 % arrive late (up to a
day and a half), so they land in a later day's log file.

Opt-outs end a channel for good in the generated world: no email after an email
unsubscribe or hard bounce, no SMS after a STOP reply or a number out of service,
no push opened after push is turned off or the app is gone. The SMS and push
opt-outs (``channel_optouts``) draw from a random stream of their own, so every
other event of a seed's shop is what it was before they were added.

Events are made per block of customers (``event_blocks``): a large shop's events
never sit in memory all at once. The writer orders them in time across blocks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from nurture.generate.calendar import ShopCalendar

EVENT_TYPES = (
    "email_sent",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "unsubscribed",
    "sms_bounced",
    "push_token_invalid",
    "session_started",
    "page_viewed",
    "cart_updated",
    "push_opened",
    "survey_answered",
    "support_ticket_opened",
    "support_ticket_resolved",
)
CAMPAIGN_WEEKDAYS = (1, 4)  # newsletters go out on Tuesdays and Fridays
SMS_WEEKDAY = 3  # SMS offers go out every other Thursday
PROP_COLUMNS = ("product_id", "cart_id", "order_id", "ticket_id", "nps", "value", "bounce_type", "channel")
# SMS, per message: a STOP reply, a failed delivery, and the share of failures that
# are hard (the number is out of service).
SMS_STOP_RATE = 0.005
SMS_FAILURE_RATE = 0.01
SMS_HARD_SHARE = 0.15
# Push, per customer who allows it: mean days until the app is gone (uninstalled or a
# new phone, about 28 % of tokens a year) and until push is turned off (about 8 % a year).
PUSH_TOKEN_LIFE_DAYS = 3 * 365
PUSH_OPT_OUT_DAYS = 12 * 365
PUSH_SEND_EVERY_DAYS = 7  # the platform learns a token is dead at the next weekly push
# Customers per block: shops up to this size are made in one block.
BLOCK_CUSTOMERS = 20_000


class EventBuffer:
    """Collects event arrays per kind; concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, event_type: str, cust_idx: np.ndarray, t: np.ndarray, **props) -> None:
        frame = pd.DataFrame({"cust_idx": cust_idx, "t": t, "event_type": event_type})
        for name, values in props.items():
            frame[name] = values
        self.parts.append(frame)

    def frame(self) -> pd.DataFrame:
        events = pd.concat(self.parts, ignore_index=True)
        for name in ("campaign", *PROP_COLUMNS):
            if name not in events:
                events[name] = None
        return events


def sends(calendar: ShopCalendar, days: list[int], hour: int, series: str, subscribed, signup):
    """Each send of a campaign series: (recipients, campaign name, send time). Recipients
    are read at each send, so an opt-out the caller records stops the next sends."""
    for day in days:
        t_send = day + hour / 24
        who = np.flatnonzero(subscribed & (signup < t_send))
        if who.size:
            sent_on = calendar.to_datetime(np.array([float(day)]))[0].astype("datetime64[D]")
            yield who, f"{series}_{sent_on}", t_send


def bounces(
    rng: np.random.Generator,
    buf: EventBuffer,
    kind: str,
    who: np.ndarray,
    t: np.ndarray,
    campaign: str,
    rate: float,
    hard_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Failed deliveries of one send (``rate``), ``hard_share`` of them for good; returns
    the (failed, hard) masks over ``who``."""
    failed = rng.random(who.size) < rate
    hard = failed & (rng.random(who.size) < hard_share)
    bounce_type = np.where(hard[failed], "hard", "soft")
    buf.add(kind, who[failed], t[failed] + 0.001, campaign=campaign, bounce_type=bounce_type)
    return failed, hard


def email_campaigns(
    rng: np.random.Generator,
    calendar: ShopCalendar,
    customers: pd.DataFrame,
    open_rate: np.ndarray,
    buf: EventBuffer,
) -> None:
    """Newsletter sends with opens, clicks, bounces and unsubscribes.

    Sending stops after an unsubscribe or a hard bounce.
    """
    signup = customers["_t_signup"].to_numpy()
    subscribed = customers["consent_email"].to_numpy().copy()
    send_days = [d for d in range(calendar.days) if calendar.weekday(np.array([d]))[0] in CAMPAIGN_WEEKDAYS]
    for who, campaign, t_send in sends(calendar, send_days, 9, "newsletter", subscribed, signup):
        t = t_send + rng.uniform(0, 0.02, who.size)
        buf.add("email_sent", who, t, campaign=campaign)
        bounced, hard = bounces(rng, buf, "email_bounced", who, t, campaign, rate=0.01, hard_share=0.3)
        opened = ~bounced & (rng.random(who.size) < open_rate[who])
        t_open = t + rng.exponential(0.15, who.size)
        buf.add("email_opened", who[opened], t_open[opened], campaign=campaign)
        clicked = opened & (rng.random(who.size) < 0.25)
        t_click = t_open + rng.exponential(0.004, who.size)
        buf.add("email_clicked", who[clicked], t_click[clicked], campaign=campaign)
        unsub = ~bounced & (rng.random(who.size) < 0.004 + 0.01 * (open_rate[who] < 0.1))
        t_unsub = t_open + 0.002
        buf.add("unsubscribed", who[unsub], t_unsub[unsub], campaign=campaign, channel="email")
        subscribed[who[unsub | hard]] = False


def sms_campaigns(
    rng: np.random.Generator, calendar: ShopCalendar, customers: pd.DataFrame, buf: EventBuffer
) -> None:
    """SMS offers every other Thursday to customers who allow SMS (they all gave a phone).

    The SMS platform reports only what goes wrong, so the logs have no SMS sends: a STOP
    reply (``unsubscribed``, channel ``sms``, 0.5 % of messages) and a failed delivery
    (``sms_bounced``, 1 %; hard, the number is out of service, for 15 % of them). Sending
    stops after a STOP or a hard bounce.
    """
    signup = customers["_t_signup"].to_numpy()
    subscribed = customers["consent_sms"].to_numpy().copy()
    thursdays = [d for d in range(calendar.days) if calendar.weekday(np.array([d]))[0] == SMS_WEEKDAY]
    for who, campaign, t_send in sends(calendar, thursdays[::2], 17, "sms", subscribed, signup):
        t = t_send + rng.uniform(0, 0.01, who.size)
        failed, hard = bounces(rng, buf, "sms_bounced", who, t, campaign, SMS_FAILURE_RATE, SMS_HARD_SHARE)
        stop = ~failed & (rng.random(who.size) < SMS_STOP_RATE)
        t_stop = t + rng.exponential(0.05, who.size)
        buf.add("unsubscribed", who[stop], t_stop[stop], campaign=campaign, channel="sms")
        subscribed[who[stop | hard]] = False


def push_optouts(
    rng: np.random.Generator, calendar: ShopCalendar, customers: pd.DataFrame, buf: EventBuffer
) -> np.ndarray:
    """Push opt-outs of the customers who allow push; returns when push ends for each
    customer (infinity if it does not).

    A token goes stale when the app is uninstalled (or the phone replaced): the push
    platform reports it invalid (``push_token_invalid``) at the next weekly push. Some
    customers turn push off first (``unsubscribed``, channel ``push``); then no push is
    sent and the token is never reported.
    """
    n = len(customers)
    signup = customers["_t_signup"].to_numpy()
    allowed = customers["consent_push"].to_numpy()
    t_gone = signup + rng.exponential(PUSH_TOKEN_LIFE_DAYS, n)
    t_reported = t_gone + rng.uniform(0, PUSH_SEND_EVERY_DAYS, n)
    t_off = signup + rng.exponential(PUSH_OPT_OUT_DAYS, n)
    turned_off = allowed & (t_off < t_gone)
    invalid = allowed & ~turned_off
    buf.add("unsubscribed", np.flatnonzero(turned_off), t_off[turned_off], channel="push")
    buf.add("push_token_invalid", np.flatnonzero(invalid), t_reported[invalid], campaign="app_push")
    return np.where(allowed, np.minimum(t_gone, t_off), np.inf)


def arrival_times(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Most events arrive within seconds, 2 % up to a day and a half late."""
    late = rng.random(len(t)) < 0.02
    return t + np.where(late, rng.uniform(0.1, 1.5, len(t)), 0.00002)


def channel_optouts(
    rng: np.random.Generator, calendar: ShopCalendar, customers: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """The SMS and push opt-outs of ``customers`` (with arrival times), and when push
    ends for each customer (``push_optouts``)."""
    buf = EventBuffer()
    sms_campaigns(rng, calendar, customers, buf)
    push_ends = push_optouts(rng, calendar, customers, buf)
    events = buf.frame()
    events["t_arrival"] = arrival_times(rng, events["t"].to_numpy())
    return events, push_ends


def event_blocks(
    rng: np.random.Generator,
    calendar: ShopCalendar,
    customers: pd.DataFrame,
    traits: pd.DataFrame,
    orders: pd.DataFrame,
    items: pd.DataFrame,
    carts: pd.DataFrame,
    block_customers: int = BLOCK_CUSTOMERS,
) -> Iterator[pd.DataFrame]:
    """The engagement events of each block of ``block_customers`` customers, in turn."""
    optout_rng = rng.spawn(1)[0]  # a stream of its own, see the module docstring
    first_item = items.drop_duplicates("order_id").set_index("order_id")["product_id"]
    order_owner = orders["_cust_idx"].to_numpy()
    cart_owner = carts["customer_id"].to_numpy() - 1
    tickets = 0  # support tickets are numbered across blocks
    for first in range(0, len(customers), block_customers):
        last = first + block_customers
        events, made = make_events(
            rng,
            optout_rng,
            calendar,
            customers.iloc[first:last].reset_index(drop=True),
            traits.iloc[first:last].reset_index(drop=True),
            orders[(order_owner >= first) & (order_owner < last)],
            first_item,
            carts[(cart_owner >= first) & (cart_owner < last)],
            first,
            tickets,
        )
        tickets += made
        yield events


def make_events(
    rng: np.random.Generator,
    optout_rng: np.random.Generator,
    calendar: ShopCalendar,
    customers: pd.DataFrame,
    traits: pd.DataFrame,
    orders: pd.DataFrame,
    first_item: pd.Series,
    carts: pd.DataFrame,
    offset: int,
    tickets_before: int,
) -> tuple[pd.DataFrame, int]:
    """The events of ``customers`` (the shop's customers ``offset`` on), unordered, and
    how many support tickets they opened (numbered after ``tickets_before``).

    ``cust_idx`` is the shop-wide customer index; the writer orders events by time.
    """
    n = len(customers)
    rate = traits["rate"].to_numpy()
    signup = customers["_t_signup"].to_numpy()
    # Buyers open more, and more so the more often they buy.
    buyer = traits["is_buyer"].to_numpy()
    open_rate = np.clip(0.05 + np.where(buyer, 0.05 + 12 * rate, 0) + rng.normal(0, 0.04, n), 0.01, 0.7)
    buf = EventBuffer()
    email_campaigns(rng, calendar, customers, open_rate, buf)

    # Sessions before each order, viewing the first item bought.
    cust_of_order = orders["_cust_idx"].to_numpy() - offset
    t_order = orders["_t"].to_numpy()
    t_session = t_order - rng.uniform(0.005, 0.03, len(orders))
    buf.add("session_started", cust_of_order, t_session)
    buf.add(
        "page_viewed",
        cust_of_order,
        t_session + 0.001,
        product_id=first_item.reindex(orders["order_id"]).to_numpy(),
    )

    # Browsing sessions, more for engaged customers, each with 1-4 page views.
    lifetime = calendar.days - signup
    n_browse = rng.poisson(lifetime * (0.01 + 1.5 * rate))
    who = np.repeat(np.arange(n), n_browse)
    t = signup[who] + rng.random(who.size) * lifetime[who]
    buf.add("session_started", who, t)
    views = np.minimum(rng.geometric(0.5, who.size), 4)
    v_who = np.repeat(who, views)
    v_t = np.repeat(t, views) + rng.uniform(0.0005, 0.01, v_who.size)
    buf.add("page_viewed", v_who, v_t, product_id=rng.integers(1, 121, v_who.size))

    # Cart updates mirror the shop's carts table.
    cart_cust = carts["customer_id"].to_numpy() - 1 - offset
    buf.add(
        "cart_updated",
        cart_cust,
        carts["_t"].to_numpy(),
        cart_id=carts["cart_id"].to_numpy(),
        value=carts["value"].to_numpy(),
    )

    # Push opens for customers who allow push.
    push = customers["consent_push"].to_numpy()
    n_push = np.where(push, rng.poisson(lifetime * 0.02), 0)
    who = np.repeat(np.arange(n), n_push)
    buf.add("push_opened", who, signup[who] + rng.random(who.size) * lifetime[who], campaign="app_push")

    # Post-purchase NPS surveys; happier scores from frequent buyers.
    paid = orders["status"].to_numpy() == "paid"
    answered = paid & (rng.random(len(orders)) < 0.15)
    who = cust_of_order[answered]
    nps = np.clip(np.round(rng.normal(6.5 + 150 * rate[who], 2.2)), 0, 10).astype(int)
    buf.add(
        "survey_answered",
        who,
        t_order[answered] + rng.uniform(3, 7, who.size),
        campaign="post_purchase_nps",
        nps=nps,
        order_id=orders["order_id"].to_numpy()[answered],
    )

    # Support tickets on 3 % of orders; most resolved within days.
    ticket = rng.random(len(orders)) < 0.03
    who = cust_of_order[ticket]
    t_open = t_order[ticket] + rng.uniform(1, 10, who.size)
    ticket_id = tickets_before + np.arange(1, who.size + 1)
    tickets_made = int(who.size)
    order_ids = orders["order_id"].to_numpy()[ticket]
    buf.add("support_ticket_opened", who, t_open, ticket_id=ticket_id, order_id=order_ids)
    resolved = rng.random(who.size) < 0.8
    buf.add(
        "support_ticket_resolved",
        who[resolved],
        t_open[resolved] + rng.uniform(0.1, 5, resolved.sum()),
        ticket_id=ticket_id[resolved],
        order_id=order_ids[resolved],
    )

    events = buf.frame()
    events["t_arrival"] = arrival_times(rng, events["t"].to_numpy())

    # SMS and push opt-outs; no push is opened once push has ended for the customer.
    optouts, push_ends = channel_optouts(optout_rng, calendar, customers)
    after_push_ended = (events["event_type"] == "push_opened").to_numpy() & (
        events["t"].to_numpy() >= push_ends[events["cust_idx"].to_numpy()]
    )
    events = pd.concat([events[~after_push_ended], optouts], ignore_index=True)
    events = events[(events["t"] >= 0) & (events["t_arrival"] < calendar.days)].reset_index(drop=True)
    events["customer_id"] = customers["customer_id"].to_numpy()[events["cust_idx"].to_numpy()]
    events["cust_idx"] += offset
    return events, tickets_made
