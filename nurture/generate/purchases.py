"""Orders, order items and carts from a buy-till-you-die process.

Each buyer purchases as a Poisson process with their own rate (Gamma across
customers) and may drop out after each purchase (Beta across customers), so
most customers buy once and a minority buy often. Weekly seasonality thins the
process: candidate purchases on quiet weekdays are kept less often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nurture.generate.calendar import ShopCalendar
from nurture.generate.people import CATEGORIES

FX_TO_EUR = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}
WEEKDAY_WEIGHT = np.array([0.8, 0.85, 0.9, 0.95, 1.0, 1.2, 1.1])  # Monday first
PROMO_CODES = np.array(["SPRING15", "SUMMER10", "VIP20", "FREESHIP", "FLASH25"])
PROMO_RATES = np.array([0.15, 0.10, 0.20, 0.05, 0.25])
MAX_CANDIDATES = 400


def purchase_behaviour(rng: np.random.Generator, n: int, activity: float = 1.0) -> pd.DataFrame:
    """Per-customer latent traits: buyer or not, purchase rate per day, dropout chance.

    ``activity`` scales every purchase rate (and so carts, sessions and opens) and
    divides the dropout chance: the benchmark's busier shops; 1 is the demo's.
    """
    rate = rng.gamma(shape=0.9, scale=0.016 * activity, size=n)
    return pd.DataFrame(
        {
            "is_buyer": rng.random(n) < 0.7,
            "rate": rate,
            "dropout": rng.beta(1.2, 3.0, size=n) / activity,
            "favourite": rng.integers(len(CATEGORIES), size=n),
        }
    )


def purchase_times(
    rng: np.random.Generator, calendar: ShopCalendar, signup: np.ndarray, traits: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate purchase times (days) for all customers; returns (customer index, t)."""
    horizon = float(calendar.days)
    buyers = np.flatnonzero(traits["is_buyer"].to_numpy())
    first = signup[buyers] + rng.exponential(4.0, size=buyers.size)
    keep = first < horizon
    cust, t = [buyers[keep]], [first[keep]]
    idx, now = buyers[keep], first[keep]
    rate = traits["rate"].to_numpy()
    dropout = traits["dropout"].to_numpy()
    w_max = WEEKDAY_WEIGHT.max()
    alive = rng.random(idx.size) >= dropout[idx]  # may die right after the first order
    idx, now = idx[alive], now[alive]
    for _ in range(MAX_CANDIDATES):
        if idx.size == 0:
            break
        now = now + rng.exponential(1.0 / (rate[idx] * w_max))
        inside = now < horizon
        idx, now = idx[inside], now[inside]
        accepted = rng.random(idx.size) < WEEKDAY_WEIGHT[calendar.weekday(now)] / w_max
        cust.append(idx[accepted])
        t.append(now[accepted])
        died = accepted & (rng.random(idx.size) < dropout[idx])
        idx, now = idx[~died], now[~died]
    cust_all, t_all = np.concatenate(cust), np.concatenate(t)
    order = np.lexsort((cust_all, t_all))
    return cust_all[order], t_all[order]


def make_orders(
    rng: np.random.Generator,
    calendar: ShopCalendar,
    customers: pd.DataFrame,
    traits: pd.DataFrame,
    products: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders (with refunds and cancellations) and their items."""
    cust_idx, t = purchase_times(rng, calendar, customers["_t_signup"].to_numpy(), traits)
    n = t.size
    order_id = np.arange(1, n + 1)
    currency = customers["_currency"].to_numpy()[cust_idx]
    fx = np.vectorize(FX_TO_EUR.get)(currency) if n else np.array([])

    # Items: 1-4 per order, mostly from the customer's favourite category.
    n_items = np.minimum(rng.geometric(0.55, size=n), 4)
    item_order = np.repeat(np.arange(n), n_items)
    m = item_order.size
    cat_sizes = np.array([c[0] for c in CATEGORIES.values()])
    cat_offsets = np.concatenate([[0], np.cumsum(cat_sizes)[:-1]])
    favourite = traits["favourite"].to_numpy()[cust_idx][item_order]
    category = np.where(rng.random(m) < 0.7, favourite, rng.integers(len(CATEGORIES), size=m))
    product_pos = cat_offsets[category] + rng.integers(0, cat_sizes[category])
    quantity = np.minimum(rng.geometric(0.7, size=m), 3)
    price_eur = products["price"].to_numpy(dtype=float)[product_pos]
    unit_price = np.round(price_eur / fx[item_order], 2)
    line = quantity * unit_price
    subtotal = np.round(np.bincount(item_order, weights=line, minlength=n), 2)

    has_promo = rng.random(n) < 0.25
    promo = rng.integers(len(PROMO_CODES), size=n)
    discount = np.where(has_promo, np.round(subtotal * PROMO_RATES[promo], 2), 0.0)
    roll = rng.random(n)
    refund_t = t + rng.uniform(3, 20, size=n)
    refunded = (roll < 0.05) & (refund_t < calendar.days)
    cancelled = (roll >= 0.05) & (roll < 0.08)
    status = np.where(refunded, "refunded", np.where(cancelled, "cancelled", "paid"))
    updated_t = np.where(refunded, refund_t, np.where(cancelled, t + 0.02, t))

    ordered_at = calendar.to_datetime(t)
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customers["customer_id"].to_numpy()[cust_idx],
            "ordered_at": ordered_at,
            "status": status,
            "currency": currency,
            "subtotal": subtotal,
            "discount": discount,
            "total": np.round(subtotal - discount, 2),
            "promo_code": np.where(has_promo, PROMO_CODES[promo], None),
            "updated_at": calendar.to_datetime(updated_t),
            "_t": t,
            "_cust_idx": cust_idx,
        }
    )
    items = pd.DataFrame(
        {
            "order_item_id": np.arange(1, m + 1),
            "order_id": order_id[item_order],
            "product_id": products["product_id"].to_numpy()[product_pos],
            "quantity": quantity,
            "unit_price": unit_price,
            # A refund touches the order's items too, so order and items move together.
            "updated_at": calendar.to_datetime(updated_t)[item_order],
        }
    )
    return orders, items


def make_carts(
    rng: np.random.Generator,
    calendar: ShopCalendar,
    customers: pd.DataFrame,
    traits: pd.DataFrame,
    orders: pd.DataFrame,
    items: pd.DataFrame,
) -> pd.DataFrame:
    """One converted cart per order plus abandoned carts from browsing customers."""
    item_count = items.groupby("order_id")["quantity"].sum().reindex(orders["order_id"]).to_numpy()
    converted = pd.DataFrame(
        {
            "customer_id": orders["customer_id"].to_numpy(),
            "_t": orders["_t"].to_numpy() - rng.uniform(0.003, 0.04, len(orders)),
            "status": "converted",
            "order_id": orders["order_id"].to_numpy(),
            "item_count": item_count,
            "value": orders["subtotal"].to_numpy(),
            "currency": orders["currency"].to_numpy(),
            "_t_updated": orders["_t"].to_numpy(),
        }
    )
    # Abandoned carts: about one for every two orders, more from frequent buyers.
    signup = customers["_t_signup"].to_numpy()
    lifetime = calendar.days - signup
    expected = 0.15 + traits["rate"].to_numpy() * lifetime * 0.5
    n_abandoned = rng.poisson(expected)
    owner = np.repeat(np.arange(len(customers)), n_abandoned)
    t = signup[owner] + rng.random(owner.size) * lifetime[owner]
    value = np.round(rng.lognormal(3.3, 0.6, owner.size), 2)
    t_updated = t + rng.uniform(0.001, 0.05, owner.size)
    abandoned = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[owner],
            "_t": t,
            # A cart still inside its last day is open; older ones count as abandoned.
            "status": np.where(t_updated > calendar.days - 1, "open", "abandoned"),
            "order_id": None,
            "item_count": np.minimum(rng.geometric(0.5, owner.size), 5),
            "value": value,
            "currency": customers["_currency"].to_numpy()[owner],
            "_t_updated": np.minimum(t_updated, calendar.days - 1e-6),
        }
    )
    carts = pd.concat([converted, abandoned], ignore_index=True)
    carts = carts.sort_values(["_t", "customer_id"], kind="stable").reset_index(drop=True)
    carts.insert(0, "cart_id", np.arange(1, len(carts) + 1))
    carts["order_id"] = carts["order_id"].astype("Int64")
    carts["created_at"] = calendar.to_datetime(carts["_t"].to_numpy())
    carts["updated_at"] = calendar.to_datetime(carts["_t_updated"].to_numpy())
    return carts


def make_fx_rates(rng: np.random.Generator, calendar: ShopCalendar) -> pd.DataFrame:
    """Daily rates to the reporting currency (EUR): a gentle random walk."""
    days = np.arange(calendar.days)
    frames = []
    for currency, base in FX_TO_EUR.items():
        if currency == "EUR":
            rate = np.ones(calendar.days)
        else:
            rate = base * np.exp(np.cumsum(rng.normal(0.0, 0.003, calendar.days)))
        frames.append(pd.DataFrame({"_day": days, "currency": currency, "rate": rate}))
    fx = pd.concat(frames, ignore_index=True).sort_values(["_day", "currency"])
    stamp = calendar.to_datetime(fx["_day"].to_numpy().astype(float))
    return pd.DataFrame(
        {
            "rate_date": pd.to_datetime(stamp).date,
            "currency": fx["currency"].to_numpy(),
            "rate_to_reporting": np.round(fx["rate"].to_numpy(), 8),
            "updated_at": stamp,
        }
    )
