"""Push an audience delta to a bulk audience API, the way reverse-ETL tools do.

The endpoint shape (Braze / Segment style)::

    POST {base_url}/v1/audiences/{segment}/batch
    Authorization: Bearer {token}
    Idempotency-Key: {key}
    {"action": "upsert" | "remove", "members": [{...}, ...]}

Rows go in batches of ``batch_size``. A 429 or 5xx (or a timeout) is retried
with exponential backoff, honouring ``Retry-After``; other 4xx fail at once.
Each batch's idempotency key is a hash of its destination, segment, date, action
and content, so a batch sent again after a crash is recognised by the server.
A journal file records every acknowledged batch: a re-run resumes after the last
one and never sends a batch twice. A push reports what it sent, what an earlier
attempt had delivered, and its retries by cause (the sync log's figures).
``POST {base_url}/v1/users/delete`` with ``{"external_ids": [...]}`` erases people
from the platform (erasure requests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

log = logging.getLogger(__name__)
RETRYABLE = {429, 500, 502, 503, 504}
TIMEOUT_SECONDS = 10.0
# Why a request was retried: a 429, a 5xx, or no answer (a timeout, a refused or dropped
# connection). The sync log keeps one count per cause.
RETRY_CAUSES = ("429", "5xx", "timeout")


class PushError(RuntimeError):
    """A batch was refused or kept failing after its retries."""


def _no_retries() -> dict[str, int]:
    return dict.fromkeys(RETRY_CAUSES, 0)


@dataclass
class PushResult:
    """What a push did, filled in batch by batch: still true when the push raises."""

    sent_rows: int = 0
    sent_batches: int = 0
    skipped_rows: int = 0  # in batches acknowledged by an earlier, interrupted run
    skipped_batches: int = 0
    retries_by_cause: dict[str, int] = field(default_factory=_no_retries)
    keys: list[str] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return sum(self.retries_by_cause.values())


def batch_key(destination: str, segment: str, run_date: str, action: str, members: list[dict]) -> str:
    content = json.dumps(members, sort_keys=True, default=str).encode()
    scope = f"{destination}|{segment}|{run_date}|{action}|".encode()
    return hashlib.sha256(scope + content).hexdigest()


class Journal:
    """Acknowledged batch keys for one (destination, segment, date): one key per line."""

    def __init__(self, path: Path):
        self.path = path
        self.done = set(path.read_text().split()) if path.exists() else set()

    def record(self, key: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(key + "\n")
            out.flush()
        self.done.add(key)


@dataclass(frozen=True)
class _Policy:
    """How one request is retried."""

    max_retries: int
    base_delay: float
    timeout: float
    sleep: Callable[[float], None]


def _retry_after(response: requests.Response | None, attempt: int, base_delay: float) -> float:
    if response is not None and response.headers.get("Retry-After", "").strip().isdigit():
        return float(response.headers["Retry-After"])
    return base_delay * 2**attempt


def _retry_cause(response: requests.Response | None) -> str:
    if response is None:
        return "timeout"
    return "429" if response.status_code == 429 else "5xx"


def _post(
    session: requests.Session,
    url: str,
    payload: dict,
    key: str,
    policy: _Policy,
    retries: dict[str, int],
) -> None:
    """POST once, retrying 429 / 5xx / timeouts with backoff; counts each retry by cause
    in ``retries`` as it happens (so a caller sees them when this raises)."""
    for attempt in range(policy.max_retries + 1):
        response = None
        try:
            headers = {"Idempotency-Key": key}
            response = session.post(url, json=payload, headers=headers, timeout=policy.timeout)
            if response.status_code < 300:
                return
            if response.status_code not in RETRYABLE:
                raise PushError(f"{url}: HTTP {response.status_code} {response.text[:200]}")
        except requests.RequestException as error:  # timeouts, refused connections
            log.warning("POST %s (%s): %s", url, key[:12], error)
        if attempt == policy.max_retries:
            status = response.status_code if response is not None else "no response"
            raise PushError(f"{url}: request {key[:12]} failed after {attempt} retries ({status})")
        retries[_retry_cause(response)] += 1
        policy.sleep(_retry_after(response, attempt, policy.base_delay))
    raise AssertionError("unreachable")


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def push_batches(
    base_url: str,
    token: str,
    segment: str,
    batches: list[tuple[str, list[dict]]],
    journal: Journal,
    destination: str,
    run_date: str,
    max_retries: int = 5,
    base_delay: float = 0.5,
    timeout: float = TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    result: PushResult | None = None,
) -> PushResult:
    """Send (action, members) batches in order; returns what was sent.

    Pass ``result`` to keep what went out when a batch fails: it is updated as each
    batch is acknowledged or skipped, before the error propagates.
    """
    result = result if result is not None else PushResult()
    policy = _Policy(max_retries, base_delay, timeout, sleep)
    url = f"{base_url.rstrip('/')}/v1/audiences/{segment}/batch"
    with _session(token) as session:
        for action, members in batches:
            key = batch_key(destination, segment, run_date, action, members)
            result.keys.append(key)
            if key in journal.done:
                result.skipped_batches += 1
                result.skipped_rows += len(members)
                continue
            payload = {"action": action, "members": members}
            _post(session, url, payload, key, policy, result.retries_by_cause)
            journal.record(key)
            result.sent_batches += 1
            result.sent_rows += len(members)
    return result


def delete_users(
    base_url: str,
    token: str,
    external_ids: list[str],
    max_retries: int = 5,
    base_delay: float = 0.5,
    timeout: float = TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Erase people from the platform itself (Braze-style ``POST /v1/users/delete``).

    Removing someone from an audience is not erasure: the platform keeps its profile.
    The same ids give the same idempotency key, so a retried erasure is applied once.
    Returns the request as one sent batch of ids, with its retries.
    """
    ids = sorted(set(external_ids))
    key = hashlib.sha256(("users/delete|" + "|".join(ids)).encode()).hexdigest()
    result = PushResult(keys=[key])
    policy = _Policy(max_retries, base_delay, timeout, sleep)
    with _session(token) as session:
        url = f"{base_url.rstrip('/')}/v1/users/delete"
        _post(session, url, {"external_ids": ids}, key, policy, result.retries_by_cause)
    result.sent_batches, result.sent_rows = 1, len(ids)
    return result
