"""
### Nurture daily pipeline

Builds the day's lifecycle audiences from the shop's raw data, in four task
groups, then retention and the run record:

1. **extract**: the shop tables changed in the data interval and the day's
   engagement log land in the raw zone (Parquet, one partition per day; bad rows
   and lines are quarantined with their field and rule); `apply_erasures`
   applies every erasure request (kept as a hash) again to every local layer
   (raw zone, quarantine, warehouse, exports, BI snapshots), so re-extracted rows never bring a person
   back; `validate_raw` runs the raw Great Expectations suites (error budget,
   freshness against the data interval, each dataset's rules).
2. **transform**: `load_warehouse` (PostgreSQL target: the day's raw rows into
   schema `raw`), `dbt build` as of the run's logical date (each model's outcome
   in the task log and in `audit.dbt_node_results`), then `predict_value`
   (BG/NBD + Gamma-Gamma probability-alive and 90-day value).
3. **check**: `validate_marts`, the suites on the marts the segments are cut from.
4. **export**: `stage_exports` allocates every segment model (tagged `segment`)
   once — channel consent and suppressions, the holdout group, de-duplication,
   the frequency cap in priority order — applies the audience-size guard and the
   export suite, and freezes the rows; `publish` is one mapped task per
   segment x destination (files, hashed ad audience, HTTP API) with an asset
   event `nurture://exports/<destination>/<segment>`; `record_sync_log` loads
   every outcome, failed destinations included, into `exports.sync_log`.
   `deliver_erasures` sends the platform deletes queued by `nurture forget`
   (the erasure outbox) beside the publishing, each platform on its own.
5. **report**: `publish_bi` writes the BI tables (dbt exposures `bi_tables` and
   `retention_report`, plus the sync log, check results and segment sizes) as a
   new Parquet snapshot under `$NURTURE_HOME/bi/` and swaps `bi/current` to it, so
   BI tools never wait for the warehouse's lock; `retention_report` draws the
   static HTML report from that snapshot (`$NURTURE_HOME/reports/`).
6. **apply_retention**: raw, quarantine and export files past
   `NURTURE_RAW_RETENTION_DAYS` / `NURTURE_EXPORT_RETENTION_DAYS` are deleted.
7. **record_run** (always runs): steps, durations, rows per layer and the check
   and sync summaries into `audit.pipeline_runs` and `audit.pipeline_steps`; it
   fails when any step failed, so the run's state is the truth.

**When something fails.** A failed *blocking* expectation fails its task at
once, naming the expectations; nothing downstream runs and no export is
published. Other failures are retried with exponential backoff. A task that
finally fails raises an alert naming the cause (`source_down`,
`validation_failed`, `destination_down`, `task_failed`): logged, appended to
`$NURTURE_HOME/alerts/alerts.jsonl` and POSTed to the `nurture_alerts`
connection's webhook if defined. A run not finished `NURTURE_DEADLINE_HOURS`
(default 3) after it was queued alerts too (deadline_missed). One failed
destination (a push, a platform delete, or a missing connection, which fails its
targets at once) does not stop the others, the BI snapshot or the report; the run
ends failed so it is seen.

Every date comes from the data interval, so re-running a day or backfilling a
range gives the same results. Tasks that open the DuckDB warehouse file (or
land the shop tables, which `nurture_hourly_carts` lands too) run in the
one-slot pool `nurture_warehouse`; `max_active_runs=1` keeps runs in order.
The shop database comes from the `nurture_shop` connection (or
`NURTURE_SHOP_DB_URL`); paths from `NURTURE_*` environment variables.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task, task_group

from nurture.orchestration.dag_support import (
    EXPORTS_ALIAS,
    SCHEDULE_DEFAULTS,
    WAREHOUSE_POOL,
    deadline,
    default_args,
    fail_on_failed_steps,
    no_retry_without_connection,
    on_failure,
    on_success,
    publish_with_asset_event,
    quality_gate,
)


@dag(
    dag_id="nurture_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    **SCHEDULE_DEFAULTS,
    tags=["nurture", "daily"],
    doc_md=__doc__,
    # Every task's outcome goes to the run record; a final failure also alerts. In the
    # shared pool, a daily task outranks any hourly one (weight 1).
    default_args=default_args(
        on_success_callback=on_success, on_failure_callback=on_failure, priority_weight=10
    ),
    # The run must be done this long after it was queued, or the triggerer alerts.
    deadline=deadline("nurture_daily_deadline", "NURTURE_DEADLINE_HOURS", 3),
)
def nurture_daily():
    # Each task is one step of nurture.pipeline (imported in the task: parsing stays light).

    @task_group
    def extract():
        """Land the interval's source rows in the raw zone, apply erasures, check the raw data."""

        @task(pool=WAREHOUSE_POOL)  # the hourly refresh lands the same shop partitions
        def shop_tables(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
            from nurture import pipeline

            return pipeline.daily_shop_tables(data_interval_start, data_interval_end)

        @task
        def event_logs(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
            from nurture import pipeline

            return pipeline.daily_event_logs(data_interval_start, data_interval_end)

        @task(pool=WAREHOUSE_POOL)
        def apply_erasures() -> dict[str, int]:
            """Erasure requests, applied again to what was just extracted (and everywhere else)."""
            from nurture import pipeline

            return pipeline.daily_apply_erasures()

        @task(pool=WAREHOUSE_POOL)
        def validate_raw(data_interval_start=None, data_interval_end=None, run_id=None) -> dict[str, int]:
            """Raw suites; a blocking failure stops the run before dbt."""
            from nurture import pipeline

            return quality_gate(pipeline.daily_validate_raw, data_interval_start, data_interval_end, run_id)

        [shop_tables(), event_logs()] >> apply_erasures() >> validate_raw()

    @task_group
    def transform():
        """Build the warehouse as of the logical date; score customer value."""

        @task
        def load_warehouse(data_interval_start=None, data_interval_end=None) -> dict[str, int]:
            """PostgreSQL target only: load the day's raw partitions into schema raw."""
            from nurture import pipeline

            return pipeline.daily_load_warehouse(data_interval_start, data_interval_end)

        @task(pool=WAREHOUSE_POOL)
        def dbt_build(data_interval_start=None, run_id=None) -> dict[str, int]:
            """One `dbt build` (models with their tests); each model's outcome is in the
            log and in table audit.dbt_node_results."""
            from nurture import pipeline

            return pipeline.daily_dbt_build(data_interval_start, run_id)

        @task(pool=WAREHOUSE_POOL)
        def predict_value(data_interval_start=None) -> int:
            from nurture import pipeline

            return pipeline.daily_predict_value(data_interval_start)

        load_warehouse() >> dbt_build() >> predict_value()

    @task_group
    def check():
        """Mart suites: a blocking failure stops every export of the run."""

        @task(pool=WAREHOUSE_POOL)
        def validate_marts(data_interval_start=None, run_id=None) -> dict[str, int]:
            from nurture import pipeline

            return quality_gate(pipeline.daily_validate_marts, data_interval_start, run_id)

        validate_marts()

    @task_group
    def export():
        """Allocate once, publish each segment x destination, record the outcome."""

        @task(pool=WAREHOUSE_POOL)
        def stage_exports(data_interval_start=None, run_id=None) -> list[dict]:
            """Allocate every segment once (consent, holdout, dedup, frequency cap), apply the
            size guard and the export suite, and freeze the rows to publish."""
            from nurture import pipeline

            return quality_gate(pipeline.daily_stage_exports, data_interval_start, run_id)

        @task(outlets=[EXPORTS_ALIAS], map_index_template="{{ export_target }}", retries=3)
        def publish(target: dict, data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
            """One segment to one destination, from the staged files (no warehouse lock):
            a failed destination is retried and does not stop the others."""
            from nurture import pipeline

            return publish_with_asset_event(
                pipeline.daily_publish, target, data_interval_start, data_interval_end, run_id
            )

        @task(trigger_rule="all_done")  # bad data or a failed build never holds up an erasure
        def deliver_erasures() -> dict[str, int]:
            """Platform deletes queued by `nurture forget`, each destination on its own;
            fails (after its retries) while any is pending, never another task. No pool:
            the outbox is files, not the warehouse."""
            from nurture import pipeline

            return no_retry_without_connection(pipeline.daily_deliver_erasures)

        @task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
        def record_sync_log(data_interval_start=None, run_id=None) -> dict[str, int]:
            """Load every destination's outcome, failed ones included, into exports.sync_log."""
            from nurture import pipeline

            return pipeline.daily_record_sync_log(data_interval_start, run_id)

        [publish.expand(target=stage_exports()), deliver_erasures()] >> record_sync_log()

    @task_group
    def report():
        """Publish the BI snapshot, then draw the retention report from it."""

        @task(pool=WAREHOUSE_POOL)
        def publish_bi(data_interval_start=None) -> dict[str, int]:
            from nurture import pipeline

            return pipeline.daily_publish_bi(data_interval_start)

        @task
        def retention_report(data_interval_start=None) -> str:
            """Reads the snapshot, not the warehouse: no pool slot needed."""
            from nurture import pipeline

            return pipeline.daily_retention_report(data_interval_start)

        publish_bi() >> retention_report()

    @task(pool=WAREHOUSE_POOL)  # it deletes warehouse rows (and the engine's allocations mirror)
    def apply_retention(data_interval_start=None) -> int:
        """Delete raw, quarantine and export files and warehouse rows past their retention periods."""
        from nurture import pipeline

        return pipeline.daily_apply_retention(data_interval_start)

    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
    def record_run(data_interval_start=None, run_id=None) -> dict:
        """Steps (state, duration), rows per layer, the validation and sync summaries
        into audit.pipeline_runs / audit.pipeline_steps, failed runs too; fails when a step
        failed (the DAG's only leaf: without that, the run would end green)."""
        from nurture import pipeline

        return fail_on_failed_steps(pipeline.daily_record_run, data_interval_start, run_id)

    # Groups run one after another: a failure anywhere stops everything after it.
    extract() >> transform() >> check() >> export() >> report() >> apply_retention() >> record_run()


nurture_daily()
