"""The lifecycle, RFM and retention settings the baselines share with the dbt project:
read from ``dbt_project.yml`` so the three implementations can never drift apart."""

from __future__ import annotations

import yaml

from nurture.config import DBT_PROJECT_DIR

_VARS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
RULES = {
    name: _VARS[name]
    for name in (
        "onboarding_days", "loyal_min_orders", "lapsing_k", "lapsing_floor_days", "churn_days",
        "reporting_currency", "history_start_date",
    )
}  # fmt: skip
