"""The report's charts, drawn by matplotlib as inline SVG: no script, no CDN, so the
report opens offline and prints. Each function takes its query's frame and returns
the SVG text; the report skips a chart whose frame is empty."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: draw to files only

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import PathPatch
from matplotlib.path import Path as CurvePath

from nurture.report.data import STAGES, TIERS

PALETTE = ["#2f6db5", "#e07b39", "#3a9e6f", "#c94c5a", "#8064a2", "#b59a2f", "#4aa3b5", "#7f7f7f"]
STAGE_COLOURS = dict(
    zip(STAGES, ["#dde1e6", "#b0b7c3", "#4aa3b5", "#2f6db5", "#3a9e6f", "#e07b39", "#c94c5a"], strict=True)
)
TIER_COLOURS = {"Bronze": "#a97142", "Silver": "#9ea7ad", "Gold": "#d4af37", "Platinum": "#6f7f8f"}
plt.rcParams.update(
    {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "svg.fonttype": "none",  # text stays text: searchable, small
        "svg.hashsalt": "nurture",  # the same data draws the same SVG
    }
)


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue: it is inlined in HTML


def _percent(axis) -> None:
    axis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))


def _currency(frame: pd.DataFrame) -> str:
    """The reporting currency, which the report puts in the frame's attrs."""
    return frame.attrs.get("currency", "EUR")


def cohort_retention(frame: pd.DataFrame) -> str:
    grid = frame.pivot(index="cohort_month", columns="months_since_first_order", values="retention_rate")
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(grid) + 1.2))
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(grid)), [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index])
    ax.set_xticks(range(len(grid.columns)), grid.columns)
    ax.set_xlabel("months since first order")
    for (row, col), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if not np.isnan(value) and col > 0:
            ax.text(
                col,
                row,
                f"{value:.0%}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value > 0.5 else "#333",
            )
    fig.colorbar(image, ax=ax, format=matplotlib.ticker.PercentFormatter(1.0), label="retained")
    return _svg(fig)


def stage_mix(frame: pd.DataFrame) -> str:
    grid = frame.pivot(index="as_of", columns="lifecycle_stage", values="customers").fillna(0)
    stages = [s for s in STAGES if s in grid.columns] + [s for s in grid.columns if s not in STAGES]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.stackplot(
        grid.index,
        *(grid[s] for s in stages),
        labels=stages,
        colors=[STAGE_COLOURS.get(s, "#999") for s in stages],
    )
    ax.set_ylabel("customers at month end")
    ax.legend(loc="upper left", ncols=len(stages), frameon=False)
    return _svg(fig)


def stage_flow(frame: pd.DataFrame) -> str:
    """A two-column flow: bands from each stage (left) to the next stage (right)."""
    frame = frame[frame["customers"] > 0]
    present = set(frame["from_stage"]) | set(frame["to_stage"])
    order = [s for s in STAGES if s in present] + sorted(present - set(STAGES))
    total = frame["customers"].sum()
    gap = total * 0.04

    def positions(column: str) -> dict[str, float]:
        sizes = frame.groupby(column)["customers"].sum()
        y, spans = 0.0, {}
        for stage in order:
            spans[stage] = y
            y += sizes.get(stage, 0) + gap
        return spans

    left, right = positions("from_stage"), positions("to_stage")
    fig, ax = plt.subplots(figsize=(9, 3.6))
    out_used, in_used = dict.fromkeys(order, 0.0), dict.fromkeys(order, 0.0)
    for row in frame.sort_values(["from_stage", "to_stage"], key=lambda c: c.map(order.index)).itertuples():
        y0 = left[row.from_stage] + out_used[row.from_stage]
        y1 = right[row.to_stage] + in_used[row.to_stage]
        h = row.customers
        out_used[row.from_stage] += h
        in_used[row.to_stage] += h
        vertices = [
            (0.1, y0),
            (0.5, y0),
            (0.5, y1),
            (0.9, y1),
            (0.9, y1 + h),
            (0.5, y1 + h),
            (0.5, y0 + h),
            (0.1, y0 + h),
            (0.1, y0),
        ]
        codes = [
            CurvePath.MOVETO,
            CurvePath.CURVE4,
            CurvePath.CURVE4,
            CurvePath.CURVE4,
            CurvePath.LINETO,
            CurvePath.CURVE4,
            CurvePath.CURVE4,
            CurvePath.CURVE4,
            CurvePath.CLOSEPOLY,
        ]
        colour = STAGE_COLOURS.get(row.to_stage, "#999")
        ax.add_patch(PathPatch(CurvePath(vertices, codes), facecolor=colour, alpha=0.45, edgecolor="none"))
    for spans, used, x, align in ((left, out_used, 0.1, "right"), (right, in_used, 0.9, "left")):
        for stage, y in spans.items():
            if used[stage]:
                colour = STAGE_COLOURS.get(stage, "#999")
                ax.add_patch(plt.Rectangle((x - 0.01, y), 0.02, used[stage], color=colour))
                label = f"{stage} ({used[stage]:,.0f})"
                ax.text(
                    x + (-0.02 if align == "right" else 0.02),
                    y + used[stage] / 2,
                    label,
                    ha=align,
                    va="center",
                )
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(max(max(left.values()), max(right.values())) + gap * 4, -gap)
    ax.axis("off")
    ax.set_title("from stage  →  to stage", fontsize=9)
    return _svg(fig)


def rfm_map(frame: pd.DataFrame) -> str:
    customers = frame.pivot(index="f_score", columns="r_score", values="customers").reindex(
        index=range(5, 0, -1), columns=range(1, 6)
    )
    labels = frame.pivot(index="f_score", columns="r_score", values="rfm_segment").reindex(
        index=range(5, 0, -1), columns=range(1, 6)
    )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.imshow(customers.fillna(0).to_numpy(dtype=float), cmap="Oranges", aspect="auto")
    for (row, col), value in np.ndenumerate(customers.fillna(0).to_numpy(dtype=float)):
        name = labels.iat[row, col]
        ax.text(
            col,
            row,
            f"{name if isinstance(name, str) else ''}\n{value:,.0f}",
            ha="center",
            va="center",
            fontsize=7,
        )
    ax.set_xticks(range(5), range(1, 6))
    ax.set_yticks(range(5), range(5, 0, -1))
    ax.set_xlabel("recency score (5 = bought most recently)")
    ax.set_ylabel("frequency score")
    return _svg(fig)


def retention_trends(frame: pd.DataFrame) -> str:
    panels = [
        ("customer_retention_rate", "retention rate", True),
        ("churn_rate", "churn rate", True),
        ("repeat_purchase_rate", "repeat-purchase rate", True),
        ("average_order_value_reporting", f"average order value ({_currency(frame)})", False),
        ("historical_ltv_reporting", f"historical LTV per customer ({_currency(frame)})", False),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 2.6))
    for ax, (column, title, is_rate) in zip(axes, panels, strict=True):
        ax.plot(frame["month_start_date"], frame[column], marker="o", markersize=3)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        if is_rate:
            _percent(ax.yaxis)
    fig.tight_layout()
    return _svg(fig)


def email_engagement(frame: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    lines = (("open_rate", "opened"), ("click_rate", "clicked"), ("unsubscribe_rate", "unsubscribed"))
    for column, label in lines:
        ax.plot(frame["month_start_date"], frame[column], marker="o", markersize=3, label=label)
    _percent(ax.yaxis)
    ax.set_ylabel("share of sends")
    ax.legend(frameon=False, ncols=3)
    return _svg(fig)


def nps(frame: pd.DataFrame) -> str:
    fig, (shares, score) = plt.subplots(1, 2, figsize=(11, 2.8), width_ratios=[3, 2])
    months = frame["month_start_date"]
    bottom = np.zeros(len(frame))
    for column, label, colour in (
        ("detractor_share", "detractors (0-6)", "#c94c5a"),
        ("passive_share", "passives (7-8)", "#b0b7c3"),
        ("promoter_share", "promoters (9-10)", "#3a9e6f"),
    ):
        shares.bar(months, frame[column], bottom=bottom, width=20, label=label, color=colour)
        bottom += frame[column].to_numpy(dtype=float)
    _percent(shares.yaxis)
    shares.legend(frameon=False, ncols=3, fontsize=7)
    shares.set_title("answers", fontsize=9)
    score.plot(months, frame["nps"], marker="o", markersize=3, color="#2f6db5")
    score.axhline(0, color="#999", linewidth=0.8)
    score.set_title("NPS (promoters - detractors, points)", fontsize=9)
    for ax in (shares, score):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    return _svg(fig)


def loyalty_tiers(frame: pd.DataFrame) -> str:
    frame = frame.set_index("loyalty_tier").reindex([t for t in TIERS if t in set(frame["loyalty_tier"])])
    fig, ax = plt.subplots(figsize=(6, 2.4))
    bars = ax.barh(frame.index, frame["customers"], color=[TIER_COLOURS[t] for t in frame.index])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in frame["customers"]], padding=3)
    ax.set_xlabel("customers")
    return _svg(fig)


def segment_sizes(frame: pd.DataFrame) -> str:
    grid = frame.pivot(index="run_date", columns="segment", values="customers").fillna(0)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for number, segment in enumerate(grid.columns):
        style = "-" if number < len(PALETTE) else "--"
        ax.plot(
            grid.index,
            grid[segment],
            style,
            marker="o",
            markersize=3,
            label=segment,
            color=PALETTE[number % len(PALETTE)],
        )
    ax.set_ylabel("customers exported")
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.tick_params(axis="x", labelrotation=30)
    return _svg(fig)


def segment_overlap(frame: pd.DataFrame) -> str:
    grid = frame.pivot(index="segment_a", columns="segment_b", values="customers").fillna(0)
    segments = sorted(set(grid.index) | set(grid.columns))
    grid = grid.reindex(index=segments, columns=segments).fillna(0)
    fig, ax = plt.subplots(figsize=(0.55 * len(segments) + 2.5, 0.45 * len(segments) + 1.5))
    values = grid.to_numpy(dtype=float)
    off_diagonal = values.copy()
    np.fill_diagonal(off_diagonal, np.nan)
    ax.imshow(np.nan_to_num(off_diagonal), cmap="Purples", aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if value:
            ax.text(
                col,
                row,
                f"{value:,.0f}",
                ha="center",
                va="center",
                fontsize=7,
                fontweight="bold" if row == col else "normal",
            )
    ax.set_xticks(range(len(segments)), segments, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(segments)), segments, fontsize=7)
    return _svg(fig)


def uplift(frame: pd.DataFrame) -> str:
    """Forest plot: each segment's uplift with its 95 % interval, rate and revenue."""
    frame = frame.dropna(subset=["rate_uplift"]).sort_values("segment", ascending=False)
    fig, (rate, revenue) = plt.subplots(1, 2, figsize=(11, 0.4 * len(frame) + 1.4), sharey=True)
    y = np.arange(len(frame))
    for ax, column, margin, title in (
        (rate, "rate_uplift", "rate_margin", "repeat-purchase rate, treated - holdout"),
        (
            revenue,
            "revenue_uplift",
            "revenue_margin",
            f"revenue per customer ({_currency(frame)}), treated - holdout",
        ),
    ):
        ax.errorbar(
            frame[column],
            y,
            xerr=frame[margin].fillna(0),
            fmt="o",
            color="#2f6db5",
            ecolor="#9bb6da",
            capsize=3,
        )
        ax.axvline(0, color="#999", linewidth=0.8)
        ax.set_title(title, fontsize=9)
    _percent(rate.xaxis)
    rate.set_yticks(y, frame["segment"])
    fig.tight_layout()
    return _svg(fig)


def detectable_uplift(frame: pd.DataFrame) -> str:
    """Each segment's minimum detectable uplift against the holdout share; the current share marked."""
    frame = frame.dropna(subset=["min_detectable_uplift"])
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for segment, rows in frame.groupby("segment", sort=True):
        line = ax.plot(
            rows["holdout_share"], rows["min_detectable_uplift"], marker="o", markersize=3, label=segment
        )
        current = rows[rows["is_current_share"]]
        ax.plot(
            current["holdout_share"],
            current["min_detectable_uplift"],
            marker="o",
            markersize=8,
            markerfacecolor="none",
            color=line[0].get_color(),
        )
    if len(frame):
        target = frame["target_uplift"].iloc[0]
        ax.axhline(target, color="#999", linewidth=0.8, linestyle="--")
        ax.text(
            1.0,
            target,
            f"target {target:.0%}",
            transform=ax.get_yaxis_transform(),
            fontsize=7,
            va="bottom",
            ha="right",
            color="#666",
        )
    _percent(ax.xaxis)
    _percent(ax.yaxis)
    ax.set_xlabel("holdout share (circled: the current one)")
    ax.set_ylabel("min. detectable uplift, 30 days")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def acquisition_cost(frame: pd.DataFrame) -> str:
    """CAC per month against its cohort's margin per customer so far; payback months above the bars."""
    fig, ax = plt.subplots(figsize=(11, 3.2))
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["cac_reporting"].astype(float), width=0.4, label="CAC (spend / new customers)")
    ax.bar(
        x + 0.2,
        frame["margin_per_customer_to_date"].astype(float),
        width=0.4,
        label="gross margin per customer so far",
        color=PALETTE[2],
    )
    top = frame[["cac_reporting", "margin_per_customer_to_date"]].astype(float).max(axis=1).fillna(0)
    for i, (months, height) in enumerate(zip(frame["payback_months"], top, strict=True)):
        label = "not paid back" if pd.isna(months) else f"payback {int(months)} mo"
        ax.text(i, height, label, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(
        x, [pd.Timestamp(m).strftime("%Y-%m") for m in frame["month_start_date"]], rotation=60, fontsize=7
    )
    ax.set_ylabel(f"per new customer ({_currency(frame)})")
    ax.legend(frameon=False, ncols=2, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.02))
    return _svg(fig)


CHARTS = {
    "cohort_retention": cohort_retention,
    "stage_mix": stage_mix,
    "stage_flow": stage_flow,
    "rfm_map": rfm_map,
    "retention_trends": retention_trends,
    "email_engagement": email_engagement,
    "nps": nps,
    "loyalty_tiers": loyalty_tiers,
    "segment_sizes": segment_sizes,
    "segment_overlap": segment_overlap,
    "uplift": uplift,
    "detectable_uplift": detectable_uplift,
    "acquisition_cost": acquisition_cost,
}
