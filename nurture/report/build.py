"""Render the report: the BI snapshot's data, matplotlib charts, one Jinja template."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pandas as pd

from nurture import atomic
from nurture.bi import snapshot as bi
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
    ("acquisition_cost", "Acquisition cost and payback by month",
     "Each month's marketing spend per new customer (CAC) beside the gross margin its new customers "
     "have brought per head so far, and the months until that margin reached the CAC "
     "(rpt_monthly_acquisition_cost)."),
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
    ("detectable_uplift", "Detectable uplift by holdout share",
     "The smallest uplift of the repeat-purchase rate 30 days of a segment's entrants can detect "
     "(5 % significance, 80 % power) at each holdout share; the dashed line is the target uplift "
     "(rpt_campaign_detectable_uplift). A larger holdout detects smaller effects but messages fewer."),
)
# fmt: on


# Built from the engagement logs: empty, and labelled so, in an orders-only shop.
EVENT_SECTIONS = {"email_engagement", "nps"}
NO_EVENT_SOURCE = "No event source: this shop sends no engagement logs (NURTURE_EVENT_SOURCE=none)."
# Uplift needs entrants: at a segment's first run its customers were members already.
FIRST_RUNS_ONLY = (
    "Only each segment's first daily run so far: its customers were members already, not new "
    "entrants. Uplift and the uplift a test can detect need the entrants of the runs after it."
)
# Acquisition cost needs the optional spend input.
NO_SPEND_INPUT = (
    "No spend input: the shop database has no marketing_spend table (or no spend in these months), "
    "so there is no acquisition cost or payback."
)


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
    drawn = [_chart(name, title, caption, _drawn(name, frames[name])) for name, title, caption in SECTIONS]
    if settings.event_source == "none":
        drawn = [replace(c, points=0, empty=NO_EVENT_SOURCE) if c.name in EVENT_SECTIONS else c
                 for c in drawn]  # fmt: skip
    why_empty = {"acquisition_cost": NO_SPEND_INPUT}
    if len(frames["detectable_uplift"]):  # segments have run, but only their first runs so far
        why_empty |= dict.fromkeys(("uplift", "detectable_uplift"), FIRST_RUNS_ONLY)
    drawn = [replace(c, empty=why_empty[c.name]) if c.name in why_empty and not c.points else c
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
            detectable_uplift=_table(_detectable_by_segment(frames["detectable_uplift"]).convert_dtypes()),
            acquisition_cost=_table(frames["acquisition_cost"].convert_dtypes()),
            checks=_table(frames["checks"]),
            # counts stay whole numbers although a held-back segment has none (NaN)
            sync=_table(frames["sync"].convert_dtypes()),
            missing=[
                c.title
                for c in drawn
                if not c.points and c.empty not in (NO_EVENT_SOURCE, NO_SPEND_INPUT, FIRST_RUNS_ONLY)
            ],
        )
    )
    path = report_path(settings, run_date)
    atomic.replace_file(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _drawn(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a chart draws: a segment without a detectable uplift yet has no line (its
    reason is in the table)."""
    if name == "detectable_uplift" and len(frame):
        return frame.dropna(subset=["min_detectable_uplift"])
    return frame


def _detectable_by_segment(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: the current share's figures, then the MDE at every share."""
    if frame.empty:
        return frame
    current = frame[frame["is_current_share"]].set_index("segment")
    by_share = frame.pivot(index="segment", columns="holdout_share", values="min_detectable_uplift")
    by_share.columns = [f"mde_at_{share:.0%}_holdout" for share in by_share.columns]
    table = current[["entrants_per_day", "base_rate", "base_rate_source", "holdout_share",
                     "min_detectable_uplift", "days_to_detect_target", "null_reason"]]  # fmt: skip
    return table.join(by_share).reset_index()


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
        if column.endswith(
            ("_rate", "rate_uplift", "rate_margin", "_share", "_holdout", "detectable_uplift")
        ):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        elif pd.api.types.is_integer_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,}")
    shown = shown.astype(object).where(shown.notna(), "")  # a missing text too (pd.NA)
    return shown.to_html(index=False, border=0, classes="data", escape=True)
