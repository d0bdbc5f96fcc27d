"""Pushing to a bulk audience API: a real HTTP server on 127.0.0.1 that fails on cue."""

from __future__ import annotations

import socket
from collections import defaultdict

import pytest

from devkit.sandbox_api import SandboxApi
from nurture.export.http_push import Journal, PushError, PushResult, batch_key, delete_users, push_batches

TOKEN = "test-token"


def members(start: int, count: int) -> list[dict]:
    return [{"external_id": i, "email": f"c{i}@example.com"} for i in range(start, start + count)]


BATCHES = [
    ("upsert", members(1, 3)),
    ("upsert", members(4, 3)),
    ("upsert", members(7, 2)),
    ("remove", members(1, 1)),
]


def server_view(requests: list[dict]) -> dict:
    """A push as the server saw it, from the requests it kept and its answers: rows and
    batches it acknowledged, and retries by the cause it gave. A client sends a batch
    again only after a failed answer, so every request of a key but its last was retried."""
    requests_by_key = defaultdict(list)
    for request in requests:
        requests_by_key[request["key"]].append(request)
    retries = {"429": 0, "5xx": 0, "timeout": 0}
    for tries in requests_by_key.values():
        for request in tries[:-1]:
            answer = request["answer"]
            retries["timeout" if answer == "hang" else "429" if answer == 429 else "5xx"] += 1
    acknowledged = [tries[-1] for tries in requests_by_key.values() if tries[-1]["answer"] in (200, 202)]
    return {
        "rows": sum(len(r.get("members", r.get("external_ids", []))) for r in acknowledged),
        "batches": len(acknowledged),
        "retries": retries,
    }


def push(api, journal, **options):
    return push_batches(api.url, TOKEN, "winback", BATCHES, journal, "crm", "2025-12-31", base_delay=0.01,
                        timeout=0.5, **options)  # fmt: skip


def test_429_500_and_timeouts_are_retried_and_each_batch_lands_once(tmp_path):
    with SandboxApi(TOKEN, hang_seconds=1.5) as api:
        api.store.fail_next(429, 500, "hang", 503)
        result = push(api, Journal(tmp_path / "journal.log"))
        assert result.retries_by_cause == {"429": 1, "5xx": 2, "timeout": 1}
        assert (result.sent_batches, result.sent_rows) == (4, 9)
        seen = server_view(api.store.requests)
        assert seen == {"rows": 9, "batches": 4, "retries": result.retries_by_cause}
        assert sorted(int(k) for k in api.store.audiences["winback"]) == list(range(2, 9))
        # Every batch was applied once, whatever was retried.
        assert len(api.store.applied_keys) == len(BATCHES)


def test_an_interrupted_push_resumes_without_sending_a_batch_twice(tmp_path):
    journal_path = tmp_path / "journal.log"
    with SandboxApi(TOKEN) as api:
        api.store.fail_next(None, None, 500, 500)  # batches 1 and 2 go through, batch 3 keeps failing
        failed = PushResult()
        with pytest.raises(PushError, match="failed after 1 retries"):
            push(api, Journal(journal_path), max_retries=1, result=failed)
        assert len(Journal(journal_path).done) == 2
        # What went out before the failure is known, retries included.
        assert (failed.sent_batches, failed.sent_rows, failed.retries_by_cause["5xx"]) == (2, 6, 1)
        assert server_view(api.store.requests) == {
            "rows": 6, "batches": 2, "retries": {"429": 0, "5xx": 1, "timeout": 0}
        }  # fmt: skip
        first_attempt = len(api.store.requests)
        # Say the server had applied batch 3 just before the run died, its reply lost.
        key3 = batch_key("crm", "winback", "2025-12-31", *BATCHES[2])
        api.store.apply("winback", key3, *BATCHES[2])

        resumed = push(api, Journal(journal_path))

        assert (resumed.skipped_batches, resumed.skipped_rows) == (2, 6)
        assert (resumed.sent_batches, resumed.sent_rows, resumed.retries) == (2, 3, 0)
        resent = server_view(api.store.requests[first_attempt:])
        assert resent == {"rows": 3, "batches": 2, "retries": {"429": 0, "5xx": 0, "timeout": 0}}
        assert sum(r["key"] == key3 for r in api.store.requests) == 3, "batch 3 re-sent under the same key"
        assert len(api.store.applied_keys) == len(BATCHES), "and applied once"
        assert sorted(int(k) for k in api.store.audiences["winback"]) == list(range(2, 9))


def test_a_refused_batch_fails_at_once_without_retries(tmp_path):
    with SandboxApi("another-token") as api:
        with pytest.raises(PushError, match="HTTP 401"):
            push(api, Journal(tmp_path / "journal.log"))
        assert len(api.store.requests) == 1


def test_deleting_users_erases_them_from_every_audience_through_retries(tmp_path):
    with SandboxApi(TOKEN) as api:
        push(api, Journal(tmp_path / "journal.log"))
        api.store.fail_next(429, 500)
        result = delete_users(api.url, TOKEN, ["3", "7", "3"], base_delay=0.01)
        assert (result.sent_rows, result.retries_by_cause) == (2, {"429": 1, "5xx": 1, "timeout": 0})
        assert api.store.deleted == {"3", "7"}
        assert sorted(int(k) for k in api.store.audiences["winback"]) == [2, 4, 5, 6, 8]
        deletions = [r for r in api.store.requests if r.get("external_ids")]
        assert len(deletions) == 3 and len({r["key"] for r in deletions}) == 1, "one key through retries"


def test_a_closed_port_counts_as_timeouts_and_the_error_says_so(tmp_path):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = PushResult()
        with pytest.raises(PushError, match="failed after 2 retries \\(no response\\)"):
            push_batches(url, TOKEN, "winback", BATCHES, Journal(tmp_path / "journal.log"), "crm",
                         "2025-12-31", max_retries=2, base_delay=0.01, result=result)  # fmt: skip
    assert result.retries_by_cause == {"429": 0, "5xx": 0, "timeout": 2}
    assert (result.sent_batches, result.sent_rows) == (0, 0)
