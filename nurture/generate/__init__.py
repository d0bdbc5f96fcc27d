"""Generate a realistic sample shop: database tables and engagement log files.

Deterministic for a seed: the same ``seed``, ``customers``, ``days`` and end
date give the same rows and the same log-file bytes.

Rows change only where the shop would change them: a refund updates the order
and its items (one ``updated_at``). Customer rows keep the consent given in the
shop; opt-outs arrive through the engagement logs, as they do from the messaging
platforms: email and SMS unsubscribes and hard bounces, push turned off, and push
tokens reported invalid. So extracting the final database day by day
gives every day the rows it would have had.

The monthly marketing spend comes from its own random stream (derived from the seed), so
adding it left every other table and log file as it was for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from nurture.generate.calendar import DEFAULT_END_DATE, ShopCalendar
from nurture.generate.engagement import BLOCK_CUSTOMERS, event_blocks
from nurture.generate.marketing import make_marketing_spend
from nurture.generate.people import make_customers, make_products
from nurture.generate.purchases import make_carts, make_fx_rates, make_orders, purchase_behaviour
from nurture.generate.writers import reset_database, write_event_logs, write_table
from nurture.shop_schema import SHOP_TABLES

__all__ = ["DEFAULT_END_DATE", "GeneratedShop", "generate_shop"]


@dataclass(frozen=True)
class GeneratedShop:
    """What was generated: row counts per table and where it went."""

    start: date
    end: date
    rows: dict[str, int]
    log_files: int
    shop_db_url: str
    log_dir: Path


def generate_shop(
    shop_db_url: str,
    log_dir: Path,
    *,
    seed: int = 42,
    customers: int = 2_000,
    days: int = 365,
    end: date = DEFAULT_END_DATE,
    activity: float = 1.0,
    block_customers: int = BLOCK_CUSTOMERS,
    progress=None,
) -> GeneratedShop:
    """Build the shop database and one gzipped JSON-lines log per day.

    ``activity`` scales how often customers buy (1: the demo's shop; the benchmark's
    shops buy about ten times a year). Events are made ``block_customers`` customers at
    a time (memory holds one block's); a shop of one block is the same for a given
    block size and seed. ``progress`` is an optional callable taking a step description.
    """
    step = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    calendar = ShopCalendar.ending(end, days)

    step("customers and products")
    products = make_products(rng, calendar)
    people = make_customers(rng, calendar, customers)
    traits = purchase_behaviour(rng, customers, activity)
    step("orders (buy-till-you-die)")
    orders, items = make_orders(rng, calendar, people, traits, products)
    carts = make_carts(rng, calendar, people, traits, orders, items)
    fx_rates = make_fx_rates(rng, calendar)
    spend_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    spend = make_marketing_spend(spend_rng, calendar, orders, fx_rates)
    step("shop database")
    engine = reset_database(shop_db_url)
    frames = {
        "customers": people,
        "products": products,
        "orders": orders,
        "order_items": items,
        "carts": carts,
        "fx_rates": fx_rates,
        "marketing_spend": spend,
    }
    for name, frame in frames.items():
        write_table(engine, SHOP_TABLES[name], frame)
    engine.dispose()
    step("engagement events and their logs")
    blocks = event_blocks(rng, calendar, people, traits, orders, items, carts, block_customers)
    log_files, events = write_event_logs(blocks, calendar, log_dir)
    rows = {name: len(frame) for name, frame in frames.items()} | {"events": events}
    return GeneratedShop(calendar.start, calendar.end, rows, log_files, shop_db_url, log_dir)
