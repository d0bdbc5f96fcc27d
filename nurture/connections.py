"""Resolve the shop database URL: Airflow connection first, environment second.

Secrets stay out of the repo: define the connection ``nurture_shop`` in Airflow
(UI, secrets backend, or ``AIRFLOW_CONN_NURTURE_SHOP``), or set
``NURTURE_SHOP_DB_URL``. The demo default is the generated SQLite file.
"""

from __future__ import annotations

from nurture.config import Settings

SHOP_CONN_ID = "nurture_shop"


def url_from_airflow_connection(conn) -> str:
    """SQLAlchemy URL from an Airflow connection (``sqlite`` keeps the file path in host)."""
    from sqlalchemy.engine import URL

    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    driver = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}.get(
        conn.conn_type, conn.conn_type
    )
    return URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    ).render_as_string(hide_password=False)


def shop_db_url(settings: Settings) -> str:
    """The shop URL from the Airflow connection if one is defined, else from settings."""
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError
    except ImportError:  # running outside Airflow
        return settings.shop_db_url
    try:
        return url_from_airflow_connection(BaseHook.get_connection(SHOP_CONN_ID))
    except (AirflowNotFoundException, AirflowRuntimeError):
        return settings.shop_db_url


def http_endpoint(conn_id: str) -> tuple[str, str]:
    """(base URL, token) of an HTTP destination from its Airflow connection.

    Inside Airflow the connection comes from Airflow (UI, secrets backend, env);
    outside it (the CLI), from ``AIRFLOW_CONN_<ID>`` as Airflow's JSON form, e.g.
    ``{"conn_type": "http", "host": "https://api.example.com", "password": "token"}``.
    """
    import json
    import os
    from types import SimpleNamespace

    conn = None
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:  # outside a task, or not defined there: fall back to the environment
        if raw := os.environ.get(variable):
            defaults = {"host": "", "schema": "", "port": None, "password": ""}
            conn = SimpleNamespace(**defaults | json.loads(raw))
    if conn is None:
        raise LookupError(f"HTTP destination connection {conn_id!r} is not defined ({variable})")
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host, conn.password or ""
