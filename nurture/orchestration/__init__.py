"""Airflow glue: what the DAG files share (default arguments, retries, pools, asset
aliases, and the wrappers that turn a step's exception into failing at once or
skipping: ``dag_support``, the one module the DAG files import besides the pipeline),
the task callbacks that keep each step's outcome (``run_log``) and alerts on failures
and missed deadlines (``alerts``). The steps themselves, the hourly refresh's too, are
``nurture.pipeline``'s. The only package that imports Airflow; it may import every
package below it (the pipeline and everything the pipeline uses)."""
