"""Render the report: the BI snapshot's data, matplotlib charts, one Jinja template."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pandas as pd

from nurture import atomic, bi
from nurture.config import Settings
from nurture.report import charts, data

TEMPLATE = Path(__file__).with_name("template.html.j2")

# (chart, title, what it shows), in the report's order.
# fmt: off
SECTIONS = (
    ("cohort_retention", "Cohort retention",
     "Share of each first-order month's customers who bought again N months later (rpt_cohort_retention)."),
    ("stage_mix", "Lifecycle stage mix",
     "Customers in each lifecycle stage at each month's end (fct_customer_stage_changes)."),
    ("stage_flow", "Stage transitions, last three months",
     "Where customers who changed stage went: band width is the number of customers "
     "(rpt_monthly_stage_transitions)."),
    ("rfm_map", "RFM segment map",
     "Customers by recency and frequency score, labelled with their RFM segment (dim_customer_rfm)."),
    ("retention_trends", "Retention, churn, repeat purchase, AOV and LTV by month",
     "Monthly metrics (rpt_monthly_retention); the last month is partial, up to the run date."),
    ("email_engagement", "Email engagement by month",
     "Opens, clicks and unsubscribes per send (rpt_monthly_email_engagement)."),
    ("nps", "Net Promoter Score by month", "Post-purchase survey answers and the NPS (rpt_monthly_nps)."),
    ("loyalty_tiers", "Loyalty tiers",
     "Customers per tier on rolling 12-month spend (dim_customer_loyalty)."),
    ("segment_sizes", "Segment sizes per daily run",
     "Customers exported per segment and run (exports.allocations)."),
    ("segment_overlap", "Segment overlap at the latest run",
     "Customers exported in two segments at once; the diagonal is each segment's size."),
    ("uplift", "Campaign uplift (intent-to-treat)",
     "Entrants outside the holdout vs the holdout, over the days after entering the segment "
     "(fct_campaign_uplift, a segment's entry days pooled). Bars: 95 % intervals on the pooled "
     "groups, normal approximation (unpooled Wald for rates, Welch-style for revenue)."),
)
# fmt: on


# Built from the engagement logs: empty, and labelled so, in an orders-only shop.
EVENT_SECTIONS = {"email_engagement", "nps"}
NO_EVENT_SOURCE = "No event source: this shop sends no engagement logs (NURTURE_EVENT_SOURCE=none)."


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    caption: str
    points: int  # rows of data drawn (0: no data yet)
    svg: str
    empty: str = "No data yet."  # what the page says where there is nothing to draw


def report_path(settings: Settings, run_date: date) -> Path:
    return settings.home / "reports" / f"retention-report-{run_date.isoformat()}.html"


def build_report(settings: Settings, run_date: date) -> Path:
    """Write the report for ``run_date`` from the current BI snapshot; returns its path."""
    snapshot = bi.current_dir(settings)
    if not snapshot.exists():
        raise FileNotFoundError(f"no BI snapshot at {snapshot}: run `nurture report` (it publishes one)")
    frames = data.load(snapshot.resolve())
    for frame in frames.values():
        frame.attrs["currency"] = settings.reporting_currency  # money axes say which currency
    drawn = [_chart(name, title, caption, frames[name]) for name, title, caption in SECTIONS]
    if settings.event_source == "none":
        drawn = [replace(c, points=0, empty=NO_EVENT_SOURCE) if c.name in EVENT_SECTIONS else c
                 for c in drawn]  # fmt: skip
    page = (
        _environment()
        .get_template(TEMPLATE.name)
        .render(
            run_date=run_date,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            snapshot=snapshot.resolve().name,
            charts=drawn,
            uplift=_table(frames["uplift"]),
            checks=_table(frames["checks"]),
            # counts stay whole numbers although a held-back segment has none (NaN)
            sync=_table(frames["sync"].convert_dtypes()),
            missing=[c.title for c in drawn if not c.points and c.empty != NO_EVENT_SOURCE],
        )
    )
    path = report_path(settings, run_date)
    atomic.replace_file(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _chart(name: str, title: str, caption: str, frame: pd.DataFrame) -> Chart:
    return Chart(name, title, caption, len(frame), charts.CHARTS[name](frame) if len(frame) else "")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def _table(frame: pd.DataFrame) -> str:
    """A frame as an HTML table (escaped), rates as percentages, counts with separators."""
    if frame.empty:
        return ""
    shown = frame.copy()
    for column in shown.columns:
        if column.endswith(("_rate", "rate_uplift", "rate_margin")):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        elif pd.api.types.is_integer_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,}")
    return shown.to_html(index=False, border=0, classes="data", na_rep="", escape=True)
