"""Load the public CDNOW sample as a shop database in Nurture's schema (``nurture/shop_schema.py``).

The CDNOW sample (Fader, Hardie & Lee 2005; ``tests/data/cdnow/CDNOW_sample.txt``) is a real
orders-only shop: one line per purchase record — master id, sample id, date (YYYYMMDD),
number of CDs, dollar value — for the 2,357 customers who first bought in 1997-Q1, followed
to 1998-06-30. It has no names, addresses, consents, products, carts or engagement data.

How it is mapped, and what is made up because the data does not have it:

- ``customers``: one per master id (``customer_id`` = master id). ``signed_up_at`` = the day of
  their first purchase record at 00:00 (the data has no signup date). Placeholder contact
  data: ``email`` = ``cdnow-<id>@example.invalid`` (a reserved domain: nothing can be
  delivered), ``first_name`` 'Customer', ``country`` 'US', ``time_zone`` 'America/New_York';
  no phone, push token or birthday. **Every consent is false** (``consent_*_at`` = signup):
  we have no consent from these people, so Nurture must never export any of them.
- ``products``: one product, "CD" (category 'music'), priced at the median unit price of the
  records (value / CDs), USD. The data does not say which CDs were bought.
- ``orders``: one per purchase record, ``status`` 'paid', ``ordered_at`` = that day at 12:00
  UTC (the data has days, not times), currency USD, ``subtotal`` = ``total`` = the dollar
  value, ``discount`` 0, no promo code, ``updated_at`` = ``ordered_at``. Several records on
  one day stay several orders (Nurture's BTYD inputs count purchase days, as the paper does).
- ``order_items``: one per order, the "CD" product, ``quantity`` = number of CDs,
  ``unit_price`` = value / CDs rounded to the cent (so quantity x unit_price can differ
  from the total by a few cents; the order total is the recorded value).
- Zero values: 8 records have 1 CD and $0.00; each is its customer's only record. They stay
  **paid orders of 0**: the record says a CD was acquired, and Fader, Hardie & Lee count it
  as that customer's first purchase (they are in the 2,357 with x = 0 and T measured from
  that day). Calling them 'cancelled' would invent a status and turn 8 buyers into
  prospects who never bought. The data has no 0-CD records; one would be refused.
- No carts and no fx_rates (everything is USD: set ``NURTURE_REPORTING_CURRENCY=USD``), and no
  marketing spend (its optional table is created empty: no CAC).

Timestamps are naive UTC Python datetimes written through SQLAlchemy, so SQLite stores them
in SQLAlchemy's default text format (and PostgreSQL as ``timestamp``).

Usage::

    .venv/bin/python scripts/load_cdnow.py [--source PATH] [--shop-db URL] [--replace]

``--shop-db`` defaults to the configured shop (``NURTURE_SHOP_DB_URL``, else
``$NURTURE_HOME/shop/shop.db``). A database that already has shop rows is left alone
unless ``--replace`` is given (then the shop tables' rows are deleted first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from nurture.config import PROJECT_ROOT, load_settings
from nurture.shop_schema import SHOP_TABLES, metadata

DEFAULT_SOURCE = PROJECT_ROOT / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
CURRENCY = "USD"
PRODUCT_ID = 1
ORDER_TIME = time(12, 0)  # the records have days only: orders are placed at noon UTC
CENT = Decimal("0.01")
CHUNK = 5_000


@dataclass(frozen=True)
class Record:
    """One line of CDNOW_sample.txt."""

    master_id: int
    sample_id: int
    day: date
    cds: int
    value: Decimal


def read_records(path: Path) -> list[Record]:
    """Parse the whitespace-separated file; a malformed line stops with its line number."""
    records = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                master, sample, day, cds, value = line.split()
                record = Record(
                    int(master),
                    int(sample),
                    datetime.strptime(day, "%Y%m%d").date(),
                    int(cds),
                    Decimal(value),
                )
            except (ValueError, ArithmeticError) as error:  # ArithmeticError: a bad Decimal
                raise SystemExit(
                    f"{path}:{number}: not 'master sample YYYYMMDD cds value': {error}"
                ) from None
            if record.cds <= 0 or record.value < 0:
                raise SystemExit(f"{path}:{number}: {record.cds} CDs for ${record.value}: not a purchase")
            records.append(record)
    if not records:
        raise SystemExit(f"{path}: no purchase records")
    return records


def shop_rows(records: list[Record]) -> dict[str, list[dict]]:
    """The shop tables' rows for the records (see the module docstring for the mapping)."""
    first_day: dict[int, date] = {}
    for r in records:
        first_day[r.master_id] = min(first_day.get(r.master_id, r.day), r.day)
    customers = []
    for customer_id, day in sorted(first_day.items()):
        signed_up_at = datetime.combine(day, time.min)
        customers.append(
            {
                "customer_id": customer_id,
                "signed_up_at": signed_up_at,
                "email": f"cdnow-{customer_id}@example.invalid",
                "phone": None,
                "push_token": None,
                "first_name": "Customer",
                "birthday": None,
                "country": "US",
                "time_zone": "America/New_York",
                # No consent in the data: nobody may ever be messaged.
                "consent_email": False,
                "consent_email_at": signed_up_at,
                "consent_sms": False,
                "consent_sms_at": signed_up_at,
                "consent_push": False,
                "consent_push_at": signed_up_at,
                "updated_at": signed_up_at,
            }
        )
    unit_prices = [r.value / r.cds for r in records]
    opened = datetime.combine(min(r.day for r in records), time.min)
    products = [
        {
            "product_id": PRODUCT_ID,
            "name": "CD",
            "category": "music",
            "price": statistics.median(unit_prices).quantize(CENT),
            "currency": CURRENCY,
            "replenishment_days": None,
            "updated_at": opened,
        }
    ]
    orders, items = [], []
    # Order ids in time order (the file is sorted by customer); ties keep the file's order.
    for order_id, r in enumerate(sorted(records, key=lambda r: (r.day, r.master_id)), start=1):
        ordered_at = datetime.combine(r.day, ORDER_TIME)
        orders.append(
            {
                "order_id": order_id,
                "customer_id": r.master_id,
                "ordered_at": ordered_at,
                "status": "paid",  # $0 records too: see the module docstring
                "currency": CURRENCY,
                "subtotal": r.value,
                "discount": Decimal("0.00"),
                "total": r.value,
                "promo_code": None,
                "updated_at": ordered_at,
            }
        )
        items.append(
            {
                "order_item_id": order_id,
                "order_id": order_id,
                "product_id": PRODUCT_ID,
                "quantity": r.cds,
                "unit_price": (r.value / r.cds).quantize(CENT),
                "updated_at": ordered_at,
            }
        )
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


def write_shop(url: str, rows: dict[str, list[dict]], *, replace: bool = False) -> None:
    """Create the shop tables (``metadata.create_all``) and insert the rows in one transaction."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            present = {
                name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in SHOP_TABLES.items()
            }
            if any(present.values()):
                if not replace:
                    filled = ", ".join(f"{name} {n:,}" for name, n in present.items() if n)
                    raise SystemExit(
                        f"{engine.url.render_as_string(hide_password=True)} already has shop rows "
                        f"({filled}): pass --replace to delete them first, or choose another --shop-db"
                    )
                for table in reversed(metadata.sorted_tables):
                    conn.execute(table.delete())
            for name, table_rows in rows.items():
                for start in range(0, len(table_rows), CHUNK):
                    conn.execute(SHOP_TABLES[name].insert(), table_rows[start : start + CHUNK])
    finally:
        engine.dispose()


def describe(records: list[Record], rows: dict[str, list[dict]]) -> list[str]:
    """What was written, in a few lines."""
    days = [r.day for r in records]
    zero = sum(1 for r in records if r.value == 0)
    same_day = sum(n - 1 for n in Counter((r.master_id, r.day) for r in records).values() if n > 1)
    revenue = sum((r.value for r in records), Decimal(0))
    return [
        f"{len(records):,} purchase records, {min(days)} .. {max(days)}, ${revenue:,.2f} in total",
        "  "
        + ", ".join(f"{name} {len(table_rows):,}" for name, table_rows in rows.items())
        + ", carts 0, fx_rates 0, marketing_spend 0",
        f"  product 'CD' at ${rows['products'][0]['price']} (median value per CD), currency {CURRENCY}",
        f"  {zero} order(s) of $0.00 kept as paid; {same_day} order(s) on a day the customer already bought",
        "  consent_email / consent_sms / consent_push: false for every customer (nothing may be exported)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="CDNOW_sample.txt")
    parser.add_argument("--shop-db", help="SQLAlchemy URL (default: NURTURE_SHOP_DB_URL or the data home's)")
    parser.add_argument("--replace", action="store_true", help="delete existing shop rows first")
    args = parser.parse_args(argv)
    url = args.shop_db or load_settings().shop_db_url
    records = read_records(args.source)
    rows = shop_rows(records)
    write_shop(url, rows, replace=args.replace)
    print(f"Wrote the CDNOW shop to {make_url(url).render_as_string(hide_password=True)}")
    for line in describe(records, rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
