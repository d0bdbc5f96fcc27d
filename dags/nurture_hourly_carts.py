"""
### Nurture hourly refresh: abandoned carts

A reminder for a cart left an hour ago is worth much more than one sent the next
morning, so the abandoned-cart audience is refreshed every hour between the daily
runs, through the same models and the same export timeline:

1. `shop_tables`: the shop tables changed since the start of the day land in
   the raw zone (the day's partitions, replaced; the daily run replaces them
   again with the whole day), then `apply_erasures`.
2. `dbt_build`: `dbt build --select tag:hourly` as of the end of the hour into
   schema `<schema>_hourly` (carts, the orders that recover them, the segment,
   with their tests); every other model (the audience, consent, lifecycle) is
   read from the latest daily build (`--defer --favor-state`). Skipped until a
   daily run has built the warehouse.
3. `stage_exports` allocates the segments tagged `hourly` (consent as of now,
   holdout, the frequency cap counting hourly and daily messages alike), runs the
   export suite, and `publish` sends each to its destinations as
   `<segment>/<day>T<hour>/`, with the delta against the run just before it —
   hourly or daily — so a cart recovered between two runs is removed. Asset
   events as in the daily DAG; `record_sync_log` adds rows with `run_hour` set
   to `exports.sync_log`.

**Never in the daily run's way.** Every task that touches the warehouse file or
the shop's raw partitions takes the one-slot pool `nurture_warehouse` with the
lowest priority, so a waiting daily task always goes first; the hourly build is
a few views and one table (seconds). `max_active_runs=1`, no catch-up: a missed
hour is covered by the next one (it sees the whole day so far).

Failures alert like the daily DAG's (`$NURTURE_HOME/alerts/alerts.jsonl`, the
`nurture_alerts` webhook); a run not done `NURTURE_HOURLY_DEADLINE_HOURS`
(default 0.75) after it was queued alerts `deadline_missed`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from nurture.orchestration.dag_support import (
    EXPORTS_ALIAS,
    SCHEDULE_DEFAULTS,
    WAREHOUSE_POOL,
    deadline,
    default_args,
    fail_on_failed_steps,
    on_failure,
    on_success,
    publish_with_asset_event,
    quality_gate,
    skip_without_daily_build,
)


@dag(
    dag_id="nurture_hourly_carts",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    **SCHEDULE_DEFAULTS,
    dagrun_timeout=timedelta(minutes=55),
    tags=["nurture", "hourly", "abandoned_cart"],
    doc_md=__doc__,
    # Steps go to audit.pipeline_steps, a final failure alerts; lowest priority in the
    # shared pool, so the daily run's tasks go first.
    default_args=default_args(
        on_success_callback=on_success,
        on_failure_callback=on_failure,
        priority_weight=1,
        weight_rule="absolute",
    ),
    deadline=deadline("nurture_hourly_carts_deadline", "NURTURE_HOURLY_DEADLINE_HOURS", 0.75),
)
def nurture_hourly_carts():
    # Each task is one step of nurture.pipeline (imported in the task: parsing stays light).

    @task(pool=WAREHOUSE_POOL)
    def shop_tables(data_interval_start=None) -> dict[str, dict[str, int]]:
        """The shop tables from the start of the day to the end of the hour."""
        from nurture import pipeline

        return pipeline.hourly_shop_tables(data_interval_start)

    @task(pool=WAREHOUSE_POOL)
    def apply_erasures() -> dict[str, int]:
        from nurture import pipeline

        return pipeline.hourly_apply_erasures()

    @task(pool=WAREHOUSE_POOL)
    def dbt_build(data_interval_start=None, run_id=None) -> dict[str, int]:
        """`dbt build --select tag:hourly` as of the hour's end, deferring to the daily build."""
        from nurture import pipeline

        return skip_without_daily_build(pipeline.hourly_dbt_build, data_interval_start, run_id)

    @task(pool=WAREHOUSE_POOL)
    def stage_exports(data_interval_start=None, run_id=None) -> list[dict]:
        from nurture import pipeline

        return quality_gate(pipeline.hourly_stage_exports, data_interval_start, run_id)

    @task(outlets=[EXPORTS_ALIAS], map_index_template="{{ export_target }}", retries=3)
    def publish(target: dict, data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        """One segment to one destination, from the staged files (no warehouse lock)."""
        from nurture import pipeline

        return publish_with_asset_event(
            pipeline.hourly_publish, target, data_interval_start, data_interval_end, run_id
        )

    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
    def record_sync_log(data_interval_start=None, run_id=None) -> dict[str, int]:
        """Every destination's outcome into exports.sync_log, the steps into
        audit.pipeline_steps; fails when a step failed (it is the only leaf)."""
        from nurture import pipeline

        return fail_on_failed_steps(pipeline.hourly_record_sync_log, data_interval_start, run_id)

    staged = stage_exports()
    shop_tables() >> apply_erasures() >> dbt_build() >> staged
    publish.expand(target=staged) >> record_sync_log()


nurture_hourly_carts()
