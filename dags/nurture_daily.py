"""
### Nurture daily pipeline

Builds the day's lifecycle audiences from the shop's raw data:

1. **extract** the shop tables changed in the data interval and the day's
   engagement log into the raw zone (Parquet, one partition per day; bad rows
   and lines are quarantined with their field and rule);
2. **apply_erasures**: every erasure request (kept as a hash) is applied again to
   the raw zone, quarantine, warehouse and exports, so re-extracted rows never
   bring a person back;
3. **validate_raw**: Great Expectations suites on the raw data (error budget,
   freshness against the data interval, each dataset's rules);
4. **transform** with `dbt build` as of the run's logical date;
5. **validate_marts**: suites on the marts the segments are cut from;
6. **predict** each customer's probability-alive and 90-day expected value
   (BG/NBD + Gamma-Gamma, fitted in the `nurture` package) into the warehouse;
7. **stage_exports**: allocate every segment model (tagged `segment`) once —
   channel consent and suppressions, the holdout group, de-duplication, the
   frequency cap in priority order — apply the audience-size guard and the export
   suite, and freeze the rows to publish;
8. **publish**: one mapped task per segment x destination (files, hashed ad
   audience, HTTP API), each a full snapshot plus the delta since that
   destination's last success, and an asset event
   `nurture://exports/<destination>/<segment>`;
9. **record_sync_log** into `exports.sync_log`, failed destinations included;
10. **apply_retention**: raw and quarantine partitions older than
   `NURTURE_RAW_RETENTION_DAYS`, and export files older than
   `NURTURE_EXPORT_RETENTION_DAYS` (counted from the logical date), are deleted.

A failed *blocking* expectation fails its task, naming the expectations, and
nothing downstream runs: no export is published for that run. Warnings are
logged and kept. Results: table `audit.validation_results` in the warehouse
and the Data Docs site under `$NURTURE_HOME/gx/uncommitted/data_docs/`.

Every date comes from the data interval, so re-running a day or backfilling a
range gives the same results. Tasks that open the DuckDB warehouse file run in
the one-slot pool `nurture_warehouse`; `max_active_runs=1` keeps runs in order.
The shop database comes from the `nurture_shop` connection (or
`NURTURE_SHOP_DB_URL`); paths from `NURTURE_*` environment variables.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, CronDataIntervalTimetable, dag, task, task_group

WAREHOUSE_POOL = "nurture_warehouse"
# Every published (segment, destination) is an asset event on
# nurture://exports/<destination>/<segment>: downstream DAGs can schedule on it.
EXPORTS_ALIAS = AssetAlias("nurture_exports")
# A shop with a fixed calendar (the demo's) sets the DAG's last date, so the
# scheduler never starts runs for days that have no data.
END_DATE = (
    pendulum.parse(os.environ["NURTURE_END_DATE"], tz="UTC") if "NURTURE_END_DATE" in os.environ else None
)


def quality_gate(step, *args):
    """Run a step whose quality gate may fail: bad data fails the task at once (no retries)."""
    from airflow.sdk.exceptions import AirflowFailException

    from nurture.quality.gate import QualityGateError

    try:
        return step(*args)
    except QualityGateError as error:
        raise AirflowFailException(str(error)) from error


default_args = {
    "owner": "nurture",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


@dag(
    dag_id="nurture_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.parse(os.environ.get("NURTURE_START_DATE", "2025-01-01"), tz="UTC"),
    end_date=END_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["nurture", "daily"],
    doc_md=__doc__,
    default_args=default_args,
)
def nurture_daily():
    @task_group
    def extract():
        @task
        def shop_tables(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
            from nurture import pipeline
            from nurture.config import load_settings
            from nurture.connections import shop_db_url

            settings = load_settings()
            return pipeline.extract_shop(
                settings, shop_db_url(settings), data_interval_start, data_interval_end
            )

        @task
        def event_logs(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
            from nurture import pipeline
            from nurture.config import load_settings

            return pipeline.extract_events(load_settings(), data_interval_start, data_interval_end)

        return [shop_tables(), event_logs()]

    @task(pool=WAREHOUSE_POOL)
    def apply_erasures() -> dict[str, int]:
        """Erasure requests, applied again to what was just extracted (and everywhere else)."""
        from nurture import pipeline
        from nurture.config import load_settings

        return pipeline.apply_erasures(load_settings())

    @task(pool=WAREHOUSE_POOL)
    def validate_raw(data_interval_start=None, data_interval_end=None, run_id=None) -> dict[str, int]:
        """Raw suites; a blocking failure stops the run before dbt."""
        from nurture import pipeline
        from nurture.config import load_settings

        settings = load_settings()
        return quality_gate(pipeline.validate_raw, settings, data_interval_start, data_interval_end, run_id)

    @task
    def load_warehouse(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
        """PostgreSQL target only: load the day's raw partitions into schema raw."""
        from nurture import pipeline
        from nurture.config import load_settings

        return pipeline.load_warehouse(load_settings(), data_interval_start, data_interval_end)

    @task(pool=WAREHOUSE_POOL)
    def dbt_build(data_interval_start=None) -> dict[str, int]:
        from collections import Counter

        from nurture import pipeline
        from nurture.config import load_settings

        results = pipeline.transform(load_settings(), data_interval_start.date())
        return dict(Counter(r.status for r in results))

    @task(pool=WAREHOUSE_POOL)
    def validate_marts(data_interval_start=None, run_id=None) -> dict[str, int]:
        """Mart suites; a blocking failure stops the exports."""
        from nurture import pipeline
        from nurture.config import load_settings

        return quality_gate(pipeline.validate_marts, load_settings(), data_interval_start.date(), run_id)

    @task(pool=WAREHOUSE_POOL)
    def predict_value(data_interval_start=None) -> int:
        from nurture import pipeline
        from nurture.config import load_settings

        return pipeline.predict(load_settings(), data_interval_start.date())

    @task(pool=WAREHOUSE_POOL)
    def stage_exports(data_interval_start=None, run_id=None) -> list[dict]:
        """Allocate every segment once (consent, holdout, dedup, frequency cap), apply the
        size guard and the export suite, and freeze the rows to publish."""
        from nurture import pipeline
        from nurture.config import load_settings

        return quality_gate(pipeline.stage_exports, load_settings(), data_interval_start.date(), run_id)

    @task(outlets=[EXPORTS_ALIAS], map_index_template="{{ export_target }}", retries=3)
    def publish(target: dict, data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        """One segment to one destination, from the staged files (no warehouse lock):
        a failed destination is retried and does not stop the others."""
        from airflow.sdk import Asset, get_current_context

        from nurture import pipeline
        from nurture.config import load_settings

        context = get_current_context()
        context["export_target"] = f"{target['segment']} -> {target['destination']}"
        entry = pipeline.publish(
            load_settings(), target, data_interval_start.date(), run_id, data_interval_end
        )
        uri = f"nurture://exports/{target['destination']}/{target['segment']}"
        context["outlet_events"][EXPORTS_ALIAS].add(
            Asset(uri), extra={k: entry[k] for k in ("included", "added", "removed")}
        )
        return entry

    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
    def record_sync_log(data_interval_start=None, run_id=None) -> dict[str, int]:
        """Load every destination's outcome, failed ones included, into exports.sync_log."""
        from nurture import pipeline
        from nurture.config import load_settings

        return pipeline.record_exports(load_settings(), data_interval_start.date(), run_id)

    @task
    def apply_retention(data_interval_start=None) -> int:
        """Delete raw, quarantine and export files past their retention periods (if set)."""
        from nurture import pipeline
        from nurture.config import load_settings

        return pipeline.apply_retention(load_settings(), data_interval_start.date())

    built = extract() >> apply_erasures() >> validate_raw() >> load_warehouse() >> dbt_build()
    built >> predict_value()
    targets = stage_exports()
    built >> validate_marts() >> targets
    publish.expand(target=targets) >> record_sync_log() >> apply_retention()


nurture_daily()
