"""The benchmark (``scripts/bench.py``): generated shops at scale factors, the pipeline's
stages as Airflow runs them, and two baselines for the lifecycle / RFM / CRR core —
the hand-written DuckDB floor (``floor.sql``) and plain pandas (``pandas_baseline.py``)."""
