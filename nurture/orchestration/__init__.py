"""Airflow glue: what the DAG files share (default arguments, retries, pools, asset
aliases: ``dag_support``), the task callbacks that keep each step's outcome
(``run_log``), alerts on failures and missed deadlines (``alerts``) and the hourly
refresh's steps (``hourly``). The only package that imports Airflow; it may import
every package below it (the pipeline and everything the pipeline uses)."""
