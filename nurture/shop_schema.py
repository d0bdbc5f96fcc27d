"""The shop database schema: the source tables Nurture extracts.

Written once with SQLAlchemy Core so the same schema creates on SQLite (the
demo) and PostgreSQL. Every table carries ``updated_at`` (UTC): extraction
takes the rows whose ``updated_at`` falls in a run's data interval.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True),
    Column("signed_up_at", DateTime, nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(32)),
    Column("push_token", String(64)),
    Column("first_name", String(64), nullable=False),
    Column("birthday", Date),
    Column("country", String(2), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("consent_email", Boolean, nullable=False),
    Column("consent_email_at", DateTime, nullable=False),
    Column("consent_sms", Boolean, nullable=False),
    Column("consent_sms_at", DateTime, nullable=False),
    Column("consent_push", Boolean, nullable=False),
    Column("consent_push_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False, index=True),
)

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("category", String(64), nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("replenishment_days", Integer),  # set for consumables only
    Column("updated_at", DateTime, nullable=False, index=True),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Integer, primary_key=True),
    Column("customer_id", Integer, nullable=False, index=True),
    Column("ordered_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # paid / refunded / cancelled
    Column("currency", String(3), nullable=False),
    Column("subtotal", Numeric(12, 2), nullable=False),
    Column("discount", Numeric(12, 2), nullable=False),
    Column("total", Numeric(12, 2), nullable=False),
    Column("promo_code", String(32)),
    Column("updated_at", DateTime, nullable=False, index=True),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_item_id", Integer, primary_key=True),
    Column("order_id", Integer, nullable=False, index=True),
    Column("product_id", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("updated_at", DateTime, nullable=False, index=True),
)

carts = Table(
    "carts",
    metadata,
    Column("cart_id", Integer, primary_key=True),
    Column("customer_id", Integer, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open / converted / abandoned
    Column("order_id", Integer),  # set when converted
    Column("item_count", Integer, nullable=False),
    Column("value", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("updated_at", DateTime, nullable=False, index=True),
)

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("rate_date", Date, primary_key=True),
    Column("currency", String(3), primary_key=True),
    # Units of the reporting currency for one unit of ``currency``.
    Column("rate_to_reporting", Numeric(18, 8), nullable=False),
    Column("updated_at", DateTime, nullable=False, index=True),
)

# Optional (nurture.extract.shop_tables.OPTIONAL_TABLES): most shops keep their marketing
# spend elsewhere; without it, customer acquisition cost (CAC) and its payback stay empty.
marketing_spend = Table(
    "marketing_spend",
    metadata,
    Column("spend_month", Date, primary_key=True),  # the first day of the month the spend is for
    Column("channel", String(32), primary_key=True),  # e.g. search, social, affiliate
    Column("spend", Numeric(14, 2), nullable=False),  # in ``currency``
    Column("currency", String(3), nullable=False),
    Column("updated_at", DateTime, nullable=False, index=True),
)

SHOP_TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}
