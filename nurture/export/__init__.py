"""Reverse ETL: each segment allocated once per run (consent, suppression list,
holdout, duplicates, frequency cap: ``allocation``), checked and staged (``stage``),
then published to its destinations as full and delta, atomically (``publish``), by
destination types registered by name (``destination_types``: files, hashed ad
audiences, an HTTP API), with the sync log, the platforms' erasure outbox and the
allocations' mirror for dbt. It may import the quality checks, the warehouse and the
foundation modules, never Airflow."""
