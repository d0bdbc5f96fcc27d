"""DAG integrity: every DAG imports cleanly with no connections configured and
follows the house rules (tags, owner, retries, docs, pool, no heavy imports)."""

from __future__ import annotations

import ast
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"
HEAVY_MODULES = {"pandas", "duckdb", "dbt", "great_expectations", "pyarrow", "numpy", "sqlalchemy"}
WAREHOUSE_TASKS = {
    "extract.shop_tables", "extract.apply_erasures", "extract.validate_raw", "transform.dbt_build",
    "transform.predict_value", "check.validate_marts", "export.stage_exports", "export.record_sync_log",
    "report.publish_bi", "record_run",
}  # fmt: skip


@pytest.fixture(scope="module")
def dagbag():
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
            patch.delenv(name)  # DAGs must import with no connections configured
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS_DIR))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {"nurture_daily", "nurture_hourly_carts", "nurture_exports_notify"}


def test_every_dag_is_documented_tagged_owned_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} needs doc_md"
        assert Path(dag.fileloc).stem == dag_id, "one DAG per file, file named for the dag_id"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries"
            assert task.owner != "airflow", f"{dag_id}.{task.task_id} needs an owner"
            assert task.on_failure_callback, f"{dag_id}.{task.task_id} must alert when it fails"
        assert dag.deadline, f"{dag_id} needs a deadline alert"


def test_warehouse_tasks_share_the_one_slot_pool(dagbag):
    dag = dagbag.dags["nurture_daily"]
    assert dag.max_active_runs == 1
    pools = {t.task_id: t.pool for t in dag.tasks}
    for task_id in WAREHOUSE_TASKS:
        assert pools[task_id] == "nurture_warehouse"


def test_hourly_refresh_shares_the_pool_and_yields_to_the_daily_run(dagbag):
    dag = dagbag.dags["nurture_hourly_carts"]
    assert dag.timetable.expression == "0 * * * *"
    assert dag.max_active_runs == 1 and not dag.catchup, "a missed hour is covered by the next one"
    assert dag.dagrun_timeout.total_seconds() < 3600, "an hour's run never runs into the next"
    daily = dagbag.dags["nurture_daily"]
    for task in dag.tasks:
        if task.task_id != "publish":
            assert task.pool == "nurture_warehouse", task.task_id
        assert task.weight_rule == "absolute" and task.priority_weight == 1, task.task_id
    assert all(t.priority_weight >= 10 for t in daily.tasks), "a waiting daily task goes first"
    chain = ["shop_tables", "apply_erasures", "dbt_build", "stage_exports", "publish", "record_sync_log"]
    for before, after in itertools.pairwise(chain):
        assert {t.task_id for t in dag.get_task(after).upstream_list} == {before}
    assert dag.get_task("record_sync_log").trigger_rule == "all_done"
    assert [o.name for o in dag.get_task("publish").outlets] == ["nurture_exports"]


def test_daily_dag_flows_extract_check_transform_check_export(dagbag):
    dag = dagbag.dags["nurture_daily"]

    def upstream(task_id):
        return {t.task_id for t in dag.get_task(task_id).upstream_list}

    assert upstream("extract.apply_erasures") == {"extract.shop_tables", "extract.event_logs"}
    assert upstream("extract.validate_raw") == {"extract.apply_erasures"}
    assert upstream("transform.load_warehouse") == {"extract.validate_raw"}
    assert upstream("transform.dbt_build") == {"transform.load_warehouse"}
    assert upstream("transform.predict_value") == {"transform.dbt_build"}
    assert upstream("check.validate_marts") == {"transform.predict_value"}
    assert upstream("export.stage_exports") == {"check.validate_marts"}, "no export without the mart gate"
    assert upstream("export.publish") == {"export.stage_exports"}
    assert upstream("export.record_sync_log") == {"export.publish", "export.deliver_erasures"}
    assert upstream("export.deliver_erasures") == {"check.validate_marts"}
    assert dag.get_task("export.deliver_erasures").trigger_rule == "all_done", "erasures wait for nothing"
    assert upstream("report.publish_bi") == {"export.record_sync_log"}
    assert upstream("report.retention_report") == {"report.publish_bi"}
    assert upstream("apply_retention") == {"report.retention_report"}
    assert upstream("record_run") == {"apply_retention"}
    assert dag.get_task("record_run").trigger_rule == "all_done", "failed runs are recorded too"
    assert {g for g in dag.task_group.children if "." not in g} >= {
        "extract",
        "transform",
        "check",
        "export",
        "report",
    }
    publish = dag.get_task("export.publish")
    assert publish.pool != "nurture_warehouse", "destinations publish in parallel, off the warehouse"
    assert [o.name for o in publish.outlets] == ["nurture_exports"], (
        "an asset event per segment x destination"
    )
    assert dag.get_task("export.record_sync_log").trigger_rule == "all_done", (
        "failed destinations are logged too"
    )
    assert dag.timetable.expression == "0 0 * * *", "daily at midnight UTC, with [start, end) data intervals"


@pytest.mark.parametrize("path", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_heavy_imports_at_dag_top_level(path):
    tree = ast.parse(path.read_text())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & HEAVY_MODULES, f"heavy imports at top level: {top_level & HEAVY_MODULES}"


@pytest.mark.parametrize("path", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_does_not_load_heavy_modules_when_parsed(tmp_path, path):
    """Parsing must stay cheap: the DAG file loads no heavy library beyond what Airflow itself loads."""
    code = (
        "import sys, runpy, airflow.sdk; "
        f"before = {{m for m in {sorted(HEAVY_MODULES)!r} if m in sys.modules}}; "
        "runpy.run_path(sys.argv[1]); "
        f"print(sorted(m for m in {sorted(HEAVY_MODULES)!r} if m in sys.modules and m not in before))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]"
