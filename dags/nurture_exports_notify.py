"""
### Nurture exports feed: downstream of every publish

Every published segment x destination is an asset event on
`nurture://exports/<destination>/<segment>` (through the asset alias
`nurture_exports`, from the daily and the hourly DAG). This DAG is scheduled on that
alias: after the exports of a run it records what each publish sent (included, added,
removed; counts, no contacts) in `$NURTURE_HOME/notifications/exports.jsonl`, one line
per event, for whoever watches the audiences. It is also the example of a downstream
DAG: schedule yours on the alias or on one segment's asset.

It reads no warehouse and takes no pool. Failures alert like the other DAGs; a run not
done `NURTURE_NOTIFY_DEADLINE_HOURS` (default 0.5) after it was queued alerts
`deadline_missed`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from nurture.orchestration.dag_support import (
    EXPORTS_ALIAS,
    START_DATE,
    asset_events,
    deadline,
    default_args,
    on_task_failure,
)


@dag(
    dag_id="nurture_exports_notify",
    schedule=[EXPORTS_ALIAS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["nurture", "exports", "downstream"],
    doc_md=__doc__,
    default_args=default_args(on_failure_callback=on_task_failure),
    deadline=deadline("nurture_exports_notify_deadline", "NURTURE_NOTIFY_DEADLINE_HOURS", 0.5),
)
def nurture_exports_notify():
    @task
    def record_published(triggering_asset_events=None) -> int:
        """One line per export event that triggered this run."""
        from nurture import pipeline

        return pipeline.exports_notify_record_published(asset_events(triggering_asset_events))

    record_published()


nurture_exports_notify()
