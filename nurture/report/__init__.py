"""The retention report: one static HTML file with every chart inlined (see
``build_report``). Reads the published BI snapshot, never the warehouse."""

from nurture.report.build import build_report

__all__ = ["build_report"]
