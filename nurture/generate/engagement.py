"""Engagement events: email campaigns, sessions, carts, push, surveys, support.

Engagement follows buying: a customer's open and browse rates grow with their
purchase rate. Each event gets an arrival time; about 2 % arrive late (up to a
day and a half), so they land in a later day's log file.

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
    "session_started",
    "page_viewed",
    "cart_updated",
    "push_opened",
    "survey_answered",
    "support_ticket_opened",
    "support_ticket_resolved",
)
CAMPAIGN_WEEKDAYS = (1, 4)  # newsletters go out on Tuesdays and Fridays
PROP_COLUMNS = ("product_id", "cart_id", "order_id", "ticket_id", "nps", "value", "bounce_type")
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
    for day in send_days:
        t_send = day + 9 / 24
        who = np.flatnonzero(subscribed & (signup < t_send))
        if who.size == 0:
            continue
        campaign = f"newsletter_{calendar.to_datetime(np.array([float(day)]))[0].astype('datetime64[D]')}"
        t = t_send + rng.uniform(0, 0.02, who.size)
        buf.add("email_sent", who, t, campaign=campaign)
        bounced = rng.random(who.size) < 0.01
        hard = bounced & (rng.random(who.size) < 0.3)
        buf.add(
            "email_bounced",
            who[bounced],
            t[bounced] + 0.001,
            campaign=campaign,
            bounce_type=np.where(hard[bounced], "hard", "soft"),
        )
        opened = ~bounced & (rng.random(who.size) < open_rate[who])
        t_open = t + rng.exponential(0.15, who.size)
        buf.add("email_opened", who[opened], t_open[opened], campaign=campaign)
        clicked = opened & (rng.random(who.size) < 0.25)
        t_click = t_open + rng.exponential(0.004, who.size)
        buf.add("email_clicked", who[clicked], t_click[clicked], campaign=campaign)
        unsub = ~bounced & (rng.random(who.size) < 0.004 + 0.01 * (open_rate[who] < 0.1))
        t_unsub = t_open + 0.002
        buf.add("unsubscribed", who[unsub], t_unsub[unsub], campaign=campaign, bounce_type=None)
        subscribed[who[unsub | hard]] = False


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
    first_item = items.drop_duplicates("order_id").set_index("order_id")["product_id"]
    order_owner = orders["_cust_idx"].to_numpy()
    cart_owner = carts["customer_id"].to_numpy() - 1
    tickets = 0  # support tickets are numbered across blocks
    for first in range(0, len(customers), block_customers):
        last = first + block_customers
        events, made = make_events(
            rng,
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
    # Arrival: most within seconds, 2 % up to a day and a half late.
    late = rng.random(len(events)) < 0.02
    events["t_arrival"] = events["t"] + np.where(late, rng.uniform(0.1, 1.5, len(events)), 0.00002)
    events = events[(events["t"] >= 0) & (events["t_arrival"] < calendar.days)].reset_index(drop=True)
    events["customer_id"] = customers["customer_id"].to_numpy()[events["cust_idx"].to_numpy()]
    events["cust_idx"] += offset
    return events, tickets_made
