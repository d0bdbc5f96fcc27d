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

import duckdb

from nurture.config import erasure_pepper
from nurture.warehouse.owned_tables import ERASURE_REQUESTS, ensure

REQUESTS = ERASURE_REQUESTS.relation


def pepper() -> str:
    return erasure_pepper()


def customer_hash(customer_id: int) -> str:
    return hashlib.sha256(f"{pepper()}:{customer_id}".encode()).hexdigest()


def hash_sql(column: str = "customer_id") -> str:
    """The same hash in DuckDB SQL."""
    secret = pepper().replace("'", "''")
    return f"sha256('{secret}:' || {column}::varchar)"


def ensure_requests(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, ERASURE_REQUESTS)
