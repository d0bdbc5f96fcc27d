"""The sample-shop generator: deterministic by seed, and shaped like a real shop."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from nurture.config import load_settings
from nurture.generate import generate_shop
from nurture.shop_schema import SHOP_TABLES
from tests.conftest import SMALL_END, make_shop


def table_dump(settings) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        return {name: pd.read_sql(f"select * from {name} order by 1, 2", con) for name in SHOP_TABLES}


def log_digests(settings) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(settings.log_dir.iterdir())}


def generated(home, **arguments):
    """A shop generated here (make_shop copies one generation per arguments: not for these tests)."""
    settings = load_settings(home)
    return settings, generate_shop(settings.shop_db_url, settings.log_dir, end=SMALL_END, **arguments)


def test_same_seed_gives_the_same_shop(tmp_path):
    a, shop_a = generated(tmp_path / "a", customers=300, days=60, seed=11)
    b, shop_b = generated(tmp_path / "b", customers=300, days=60, seed=11)
    assert shop_a.rows == shop_b.rows
    for name, frame in table_dump(a).items():
        pd.testing.assert_frame_equal(frame, table_dump(b)[name], obj=name)
    assert log_digests(a) == log_digests(b)
    assert len(log_digests(a)) == 60


def test_another_seed_gives_another_shop(tmp_path):
    a, _ = generated(tmp_path / "a", customers=300, days=60, seed=11)
    b, _ = generated(tmp_path / "b", customers=300, days=60, seed=12)
    assert not table_dump(a)["orders"].equals(table_dump(b)["orders"])
    assert log_digests(a) != log_digests(b)


def test_events_made_in_customer_blocks_keep_one_time_ordered_id_sequence(tmp_path):
    settings = load_settings(tmp_path)
    shop = generate_shop(
        settings.shop_db_url, settings.log_dir, seed=4, customers=500, days=90, block_customers=120
    )
    events = (
        duckdb.connect()
        .execute(
            f"select event_id, event_type, timestamp, properties->>'ticket_id' as ticket_id, filename "
            f"from read_json('{settings.log_dir}/*.jsonl.gz', filename = true)"
        )
        .df()
    )
    assert len(events) == shop.rows["events"] and events["event_id"].is_unique
    opened = events[events["event_type"] == "support_ticket_opened"]
    assert len(opened) > 5 and opened["ticket_id"].is_unique, "ticket ids run on across blocks"
    ordered = events.sort_values("event_id")
    assert ordered["timestamp"].is_monotonic_increasing, "ids follow time across blocks"
    for _, in_file in events.groupby("filename", sort=False):
        assert in_file["event_id"].is_monotonic_increasing, "each file lists events in id order"


@pytest.fixture(scope="module")
def year_shop(tmp_path_factory):
    settings, shop = make_shop(tmp_path_factory.mktemp("year"), customers=3000, days=365, seed=3)
    return settings, shop, table_dump(settings)


def test_most_buyers_buy_once_and_a_minority_often(year_shop):
    _, _, tables = year_shop
    paid = tables["orders"].query("status == 'paid'")
    per_customer = paid.groupby("customer_id").size()
    assert (per_customer == 1).mean() > 0.4, "one-time buyers should be the largest group"
    assert (per_customer >= 5).mean() > 0.03, "a minority buys often"
    prospects = len(tables["customers"]) - tables["orders"]["customer_id"].nunique()
    assert prospects > 0.2 * len(tables["customers"]), "many sign up and never buy"


def test_marketing_spend_covers_each_channel_and_reported_month_at_a_plausible_cac(year_shop):
    """Spend per month and channel, in EUR and USD, sized so that the blended acquisition
    cost (spend in EUR over the month's first-time buyers) is a plausible 20-60 EUR."""
    _, shop, tables = year_shop
    spend = tables["marketing_spend"]
    month = pd.to_datetime(spend["spend_month"]).dt.to_period("M")
    updated = pd.to_datetime(spend["updated_at"])
    # Every month of the history but the last, which is reported after the shop's last day.
    reported = pd.period_range(shop.start, shop.end, freq="M")[:-1]
    channels = {"search", "social", "affiliate"}
    assert sorted(zip(month, spend["channel"], strict=True)) == sorted(
        (m, c) for m in reported for c in channels
    )
    assert (pd.to_datetime(spend["spend_month"]).dt.day == 1).all()
    assert (updated > month.dt.end_time).all() and (updated.dt.date <= shop.end).all()
    assert set(spend["currency"]) >= {"EUR", "USD"} and (spend["spend"] > 0).all()

    fx = tables["fx_rates"].assign(month=pd.to_datetime(tables["fx_rates"]["rate_date"]).dt.to_period("M"))
    rate = fx.groupby(["month", "currency"])["rate_to_reporting"].mean()
    in_eur = spend["spend"] * [rate[m, c] for m, c in zip(month, spend["currency"], strict=True)]
    first = pd.to_datetime(tables["orders"].groupby("customer_id")["ordered_at"].min())
    buyers = first.dt.to_period("M").value_counts()
    cac = in_eur.groupby(month).sum() / buyers.reindex(reported)
    assert 20 < cac.median() < 60 and cac.between(10, 100).all(), cac


def test_refunds_update_the_order_and_its_items(year_shop):
    _, _, tables = year_shop
    orders, items = tables["orders"], tables["order_items"]
    refunded = orders.query("status == 'refunded'")
    assert len(refunded) > 0
    assert (pd.to_datetime(refunded["updated_at"]) > pd.to_datetime(refunded["ordered_at"])).all()
    merged = items.merge(orders[["order_id", "updated_at"]], on="order_id", suffixes=("_item", "_order"))
    assert (merged["updated_at_item"] == merged["updated_at_order"]).all()
    assert set(orders["status"]) == {"paid", "refunded", "cancelled"}


def test_weekly_seasonality_and_late_events(year_shop):
    settings, _, tables = year_shop
    weekday = pd.to_datetime(tables["orders"]["ordered_at"]).dt.weekday
    assert (weekday == 5).sum() > (weekday == 0).sum() * 1.1, "Saturdays sell more than Mondays"
    late = 0
    for path in sorted(settings.log_dir.iterdir())[100:110]:
        events = pd.read_json(path, lines=True, compression="gzip", convert_dates=False)
        file_day = path.name.removeprefix("events-").removesuffix(".jsonl.gz")
        late += (events["timestamp"].str[:10] < file_day).sum()
    assert late > 0, "some events arrive in a later day's file"


def test_engagement_follows_buying(year_shop):
    settings, _, tables = year_shop
    frames = [
        pd.read_json(p, lines=True, compression="gzip") for p in sorted(settings.log_dir.iterdir())[200:260]
    ]
    events = pd.concat(frames)
    opens = events.query("event_type == 'email_opened'").groupby("customer_id").size()
    sent = events.query("event_type == 'email_sent'").groupby("customer_id").size()
    open_rate = (opens.reindex(sent.index, fill_value=0) / sent).rename("open_rate")
    orders = tables["orders"].groupby("customer_id").size().rename("orders")
    joined = open_rate.to_frame().join(orders, how="left").fillna({"orders": 0})
    frequent = joined.query("orders >= 3")["open_rate"].mean()
    never = joined.query("orders == 0")["open_rate"].mean()
    assert frequent > never * 1.5
    assert set(events["event_type"]) >= {"email_sent", "survey_answered", "page_viewed", "cart_updated"}


def read_log_events(settings) -> pd.DataFrame:
    return (
        duckdb.connect()
        .execute(
            "select event_type, customer_id, timestamp::timestamp as occurred_at, campaign, "
            "properties->>'channel' as channel, properties->>'bounce_type' as bounce_type "
            f"from read_json('{settings.log_dir}/*.jsonl.gz', format = 'newline_delimited')"
        )
        .df()
    )


def test_every_channel_has_opt_outs_and_nothing_follows_them(year_shop):
    """SMS STOPs (0.2-1 % of messages) and rarer hard bounces, push turned off and tokens
    gone stale, email as before; each only from customers who allowed the channel, and
    the channel falls silent for the customer after it."""
    settings, shop, tables = year_shop
    events = read_log_events(settings)
    people = tables["customers"].set_index("customer_id")
    signed_up = pd.to_datetime(people["signed_up_at"])

    sms = events[(events["event_type"] == "sms_bounced") | (events["channel"] == "sms")]
    stops = sms[sms["event_type"] == "unsubscribed"]
    hard = sms[sms["bounce_type"] == "hard"]
    assert set(sms["customer_id"]) <= set(people.index[people["consent_sms"].astype(bool)])
    # Messages sent: each fortnightly SMS campaign reaches the subscribers signed up before it
    # who have not left (a STOP or a hard bounce ends SMS for good).
    ended = pd.concat([stops, hard]).groupby("customer_id")["occurred_at"].min()
    subscribers = people.index[people["consent_sms"].astype(bool)]
    ended_at = ended.reindex(subscribers)  # NaT: never left
    sent = 0
    for campaign in sms["campaign"].dropna().unique():
        t_send = pd.Timestamp(campaign.removeprefix("sms_")) + pd.Timedelta(hours=17)
        reached = (ended_at.isna() | (ended_at > t_send)) & (signed_up[subscribers] < t_send)
        sent += int(reached.sum())
    assert 0.002 < len(stops) / sent < 0.01, (len(stops), sent)
    assert 0 < len(hard) < len(stops), "SMS hard bounces are rarer than STOPs"
    assert (sms["bounce_type"] == "soft").sum() > len(hard)
    last_sms = sms.groupby("customer_id")["occurred_at"].max()
    assert (last_sms.reindex(ended.index) == ended).all(), "no SMS event after a STOP or a hard bounce"

    push_off = events[(events["event_type"] == "push_token_invalid") | (events["channel"] == "push")]
    pushers = people.index[people["consent_push"].astype(bool)]
    assert set(push_off["customer_id"]) <= set(pushers)
    assert push_off["customer_id"].is_unique, "push ends once"
    invalid = (push_off["event_type"] == "push_token_invalid").sum()
    years = ((pd.Timestamp(shop.end + timedelta(days=1)) - signed_up[pushers]).dt.days / 365).sum()
    assert 0.15 < invalid / years < 0.4, "about a quarter of tokens go stale in a year"
    assert 0 < (push_off["event_type"] == "unsubscribed").sum() < invalid
    opens = events[events["event_type"] == "push_opened"].merge(
        push_off[["customer_id", "occurred_at"]], on="customer_id", suffixes=("", "_off")
    )
    assert len(opens) and (opens["occurred_at"] < opens["occurred_at_off"]).all(), "no push after it ended"

    email_off = events[
        ((events["event_type"] == "email_bounced") & (events["bounce_type"] == "hard"))
        | (events["channel"] == "email")
    ]
    email_off = email_off.groupby("customer_id")["occurred_at"].min()
    sends = events[events["event_type"] == "email_sent"].merge(email_off.rename("off"), on="customer_id")
    assert len(email_off) and (sends["occurred_at"] < sends["off"]).all(), "no email after it ended"
