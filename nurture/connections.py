"""Resolve connections: Airflow connection first, environment second.

Secrets stay out of the repo: define the connection ``nurture_shop`` in Airflow
(UI, secrets backend, or ``AIRFLOW_CONN_NURTURE_SHOP``), or set
``NURTURE_SHOP_DB_URL``. The demo default is the generated SQLite file. HTTP
destinations (and alerts) name a connection too: ``http_endpoint``.
"""

from __future__ import annotations

from nurture.config import Settings, environment_connection

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


# What AIRFLOW_CONN_<ID> holds for an HTTP destination (Airflow's JSON form).
EXAMPLE_HTTP_CONNECTION = '{"conn_type": "http", "host": "https://api.example.com", "password": "<token>"}'


def connection_variable(conn_id: str) -> str:
    """The environment variable Airflow reads a connection from: ``AIRFLOW_CONN_<ID>``."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class MissingConnectionError(LookupError):
    """An HTTP connection is defined neither in Airflow nor in the environment.

    ``conn_id`` and ``variable`` let a caller say what to set in its own words (the CLI
    names every skipped segment once); the message alone is a complete sentence.
    """

    def __init__(self, conn_id: str, needed_by: str = "This HTTP destination"):
        self.conn_id = conn_id
        self.variable = connection_variable(conn_id)
        super().__init__(
            f"{needed_by} needs the Airflow connection {conn_id!r} (or the environment variable "
            f"{self.variable}, e.g. '{EXAMPLE_HTTP_CONNECTION}')."
        )


def http_endpoint(conn_id: str, needed_by: str = "This HTTP destination") -> tuple[str, str]:
    """(base URL, token) of an HTTP destination from its Airflow connection.

    Inside Airflow the connection comes from Airflow (UI, secrets backend, env);
    outside it (the CLI), from ``AIRFLOW_CONN_<ID>`` as Airflow's JSON form
    (``EXAMPLE_HTTP_CONNECTION``). Neither: :class:`MissingConnectionError`, whose
    message starts with ``needed_by``.
    """
    import json
    from types import SimpleNamespace

    conn = None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:  # outside a task, or not defined there: fall back to the environment
        if raw := environment_connection(connection_variable(conn_id)):
            defaults = {"host": "", "schema": "", "port": None, "password": ""}
            conn = SimpleNamespace(**defaults | json.loads(raw))
    if conn is None:
        raise MissingConnectionError(conn_id, needed_by)
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host, conn.password or ""
