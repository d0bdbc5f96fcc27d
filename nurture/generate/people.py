"""Customers and products of the generated shop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nurture.generate.calendar import ShopCalendar

FIRST_NAMES = np.array(
    "Anna Ben Clara David Emma Felix Greta Hugo Ida Jonas Katrin Leon Mia Noah Olivia "
    "Paul Quentin Rosa Samuel Tara Umut Vera William Xenia Yusuf Zoe Amelie Bruno Chloe "
    "Dario Elif Finn Hannah Isaac Julia Karim Lena Marco Nina Oscar Priya Rafael Sofia "
    "Tom Ursula Victor Wanda Yara Louis Manon Oliver Harriet Ethan Grace Daan Sanne Luca "
    "Lotte Mateo".split()
)

# country: (share, currency, time zones, phone prefix)
COUNTRIES = {
    "DE": (0.32, "EUR", ["Europe/Berlin"], "+49"),
    "FR": (0.15, "EUR", ["Europe/Paris"], "+33"),
    "NL": (0.10, "EUR", ["Europe/Amsterdam"], "+31"),
    "GB": (0.15, "GBP", ["Europe/London"], "+44"),
    "US": (0.28, "USD", ["America/New_York", "America/Chicago", "America/Los_Angeles"], "+1"),
}

# category: (product count, median price EUR, replenishment days or 0 for durables)
CATEGORIES = {
    "coffee": (18, 14.0, 30),
    "tea": (14, 9.0, 45),
    "snacks": (16, 6.0, 21),
    "beauty": (14, 22.0, 60),
    "kitchen": (16, 35.0, 0),
    "home": (16, 45.0, 0),
    "apparel": (14, 40.0, 0),
    "books": (12, 18.0, 0),
}
ADJECTIVES = np.array("Classic Organic Daily Premium Bold Gentle Nordic Urban Wild Golden Fresh Slow".split())


def make_products(rng: np.random.Generator, calendar: ShopCalendar) -> pd.DataFrame:
    """Products sorted by category, prices in EUR."""
    rows = []
    for category, (count, median_price, replenish) in CATEGORIES.items():
        prices = np.round(median_price * rng.lognormal(0.0, 0.35, count), 2)
        for i in range(count):
            rows.append(
                {
                    "name": f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {category} no. {i + 1}",
                    "category": category,
                    "price": max(prices[i], 1.0),
                    "currency": "EUR",
                    "replenishment_days": (int(replenish + rng.integers(-5, 6)) if replenish else None),
                }
            )
    products = pd.DataFrame(rows)
    products.insert(0, "product_id", np.arange(1, len(products) + 1))
    products["replenishment_days"] = products["replenishment_days"].astype("Int64")
    products["updated_at"] = np.datetime64(calendar.start, "s")
    return products


def signup_times(rng: np.random.Generator, calendar: ShopCalendar, n: int) -> np.ndarray:
    """Signup times in days: a growing shop with more signups at weekends."""
    day = np.arange(calendar.days)
    weekday = (day + calendar.start.weekday()) % 7
    weight = (1.0 + 1.5 * day / calendar.days) * np.where(weekday >= 5, 1.3, 1.0)
    days = rng.choice(calendar.days, size=n, p=weight / weight.sum())
    hour = rng.normal(15.0, 4.0, n).clip(0.0, 23.99)
    return np.sort(days + hour / 24.0)


def make_customers(rng: np.random.Generator, calendar: ShopCalendar, n: int) -> pd.DataFrame:
    """Customers with contact data and per-channel consent given at signup."""
    customer_id = np.arange(1, n + 1)
    signed_up = signup_times(rng, calendar, n)
    names = list(COUNTRIES)
    shares = np.array([COUNTRIES[c][0] for c in names])
    country_idx = rng.choice(len(names), size=n, p=shares / shares.sum())
    country = np.array(names)[country_idx]
    zone = np.array([rng.choice(COUNTRIES[c][2]) for c in names], dtype=object)
    time_zone = np.where(country == "US", None, zone[country_idx])
    us = country == "US"
    time_zone[us] = rng.choice(COUNTRIES["US"][2], size=int(us.sum()), p=[0.5, 0.3, 0.2])
    first_name = FIRST_NAMES[rng.integers(len(FIRST_NAMES), size=n)]
    domains = np.array(["example.com", "example.org", "example.net", "mail.example"])
    email = (
        pd.Series(first_name).str.lower()
        + "."
        + pd.Series(customer_id).astype(str)
        + "@"
        + domains[rng.integers(len(domains), size=n)]
    ).to_numpy()
    prefix = np.array([COUNTRIES[c][3] for c in names])[country_idx]
    has_phone = rng.random(n) < 0.6
    phone_digits = pd.Series(rng.integers(100_000_000, 999_999_999, size=n)).astype(str)
    phone = np.where(has_phone, prefix + "1" + phone_digits.to_numpy(), None)
    has_push = rng.random(n) < 0.35
    token = pd.Series(rng.integers(0, 2**62, size=n)).map("{:016x}".format).to_numpy()
    push_token = np.where(has_push, "tok_" + token, None)
    age_days = rng.integers(18 * 365, 75 * 365, size=n)
    birthday = np.datetime64(calendar.end, "D") - age_days.astype("timedelta64[D]")
    birthday = np.where(rng.random(n) < 0.8, birthday, np.datetime64("NaT"))
    signed_up_at = calendar.to_datetime(signed_up)
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "signed_up_at": signed_up_at,
            "email": email,
            "phone": phone,
            "push_token": push_token,
            "first_name": first_name,
            "birthday": pd.to_datetime(birthday).date,
            "country": country,
            "time_zone": time_zone,
            "consent_email": rng.random(n) < 0.75,
            "consent_email_at": signed_up_at,
            "consent_sms": has_phone & (rng.random(n) < 0.4),
            "consent_sms_at": signed_up_at,
            "consent_push": has_push & (rng.random(n) < 0.8),
            "consent_push_at": signed_up_at,
            "updated_at": signed_up_at,
            "_t_signup": signed_up,
            "_currency": np.array([COUNTRIES[c][1] for c in names])[country_idx],
        }
    )
