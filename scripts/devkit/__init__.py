"""Dev-only helpers for the scripts and the tests; never shipped, never imported by the pipeline.

- ``local_airflow``: Airflow on this machine (``airflow standalone``, a backfill through
  the scheduler, ``airflow dags test``) and the CeleryExecutor stack of
  docker-compose.yml on 127.0.0.1 (its settings, a private Redis, Celery workers);
- ``sandbox_api``: a loopback HTTP server standing in for a marketing platform's
  audience API (the demo's and the tests' CRM destination);
- ``screenshot``: headless-Chromium pictures for the README.

It lives under ``scripts/``, outside the package ``nurture/``: pyproject.toml's package
discovery, the Dockerfile and docker-compose.yml take ``nurture/`` (and ``dags/``) only,
so nothing here is installed or in the Airflow image. ``python scripts/<name>.py`` finds
it on ``sys.path`` (the script's folder); the tests through pytest's ``pythonpath``
(pyproject.toml). It may import ``nurture``; nothing under ``nurture/`` or ``dags/``
imports it (tests/test_lint.py checks, and .importlinter for the pipeline's layers).
"""
