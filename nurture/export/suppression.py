"""The suppression list: customers who asked to be erased, whom no export ever
includes. A request is kept only as a keyed hash of the customer id, in the warehouse
table ``privacy.erasure_requests`` (recorded by ``nurture.privacy.erasure``; the
allocation step reads it, and erased customers' platform deletes queue in
``erasure_outbox``).

The hash is SHA-256 of ``NURTURE_ERASURE_PEPPER:customer_id``; set the pepper (a
secret, from the environment) so the list cannot be reversed by trying every id.
"""

from __future__ import annotations

import hashlib
import os

import duckdb

REQUESTS = "privacy.erasure_requests"


def pepper() -> str:
    return os.environ.get("NURTURE_ERASURE_PEPPER", "")


def customer_hash(customer_id: int) -> str:
    return hashlib.sha256(f"{pepper()}:{customer_id}".encode()).hexdigest()


def hash_sql(column: str = "customer_id") -> str:
    """The same hash in DuckDB SQL."""
    secret = pepper().replace("'", "''")
    return f"sha256('{secret}:' || {column}::varchar)"


def ensure_requests(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists privacy")
    con.execute(
        f"create table if not exists {REQUESTS} "
        "(customer_hash varchar primary key, requested_at timestamp, applied_at timestamp)"
    )
