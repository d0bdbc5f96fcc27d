"""Pushing to a bulk audience API: a real HTTP server on 127.0.0.1 that fails on cue."""

from __future__ import annotations

import pytest

from nurture.export.http_push import Journal, PushError, batch_key, delete_users, push_batches
from nurture.export.sandbox_api import SandboxApi

TOKEN = "test-token"


def members(start: int, count: int) -> list[dict]:
    return [{"external_id": i, "email": f"c{i}@example.com"} for i in range(start, start + count)]


BATCHES = [
    ("upsert", members(1, 3)),
    ("upsert", members(4, 3)),
    ("upsert", members(7, 2)),
    ("remove", members(1, 1)),
]


def push(api, journal, **options):
    return push_batches(api.url, TOKEN, "winback", BATCHES, journal, "crm", "2025-12-31", base_delay=0.01,
                        timeout=0.5, **options)  # fmt: skip


def test_429_500_and_timeouts_are_retried_and_each_batch_lands_once(tmp_path):
    with SandboxApi(TOKEN, hang_seconds=1.5) as api:
        api.store.fail_next(429, 500, "hang", 503)
        result = push(api, Journal(tmp_path / "journal.log"))
        assert result.retries == 4
        assert (result.sent_batches, result.sent_rows) == (4, 9)
        assert sorted(int(k) for k in api.store.audiences["winback"]) == list(range(2, 9))
        # Every batch was applied once, whatever was retried.
        assert len(api.store.applied_keys) == len(BATCHES)


def test_an_interrupted_push_resumes_without_sending_a_batch_twice(tmp_path):
    journal_path = tmp_path / "journal.log"
    with SandboxApi(TOKEN) as api:
        api.store.fail_next(None, None, 500, 500)  # batches 1 and 2 go through, batch 3 keeps failing
        with pytest.raises(PushError, match="failed after 1 retries"):
            push(api, Journal(journal_path), max_retries=1)
        assert len(Journal(journal_path).done) == 2
        # Say the server had applied batch 3 just before the run died, its reply lost.
        key3 = batch_key("crm", "winback", "2025-12-31", *BATCHES[2])
        api.store.apply("winback", key3, *BATCHES[2])

        resumed = push(api, Journal(journal_path))

        assert resumed.skipped_batches == 2 and resumed.sent_batches == 2
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
        delete_users(api.url, TOKEN, ["3", "7", "3"], base_delay=0.01)
        assert api.store.deleted == {"3", "7"}
        assert sorted(int(k) for k in api.store.audiences["winback"]) == [2, 4, 5, 6, 8]
        deletions = [r for r in api.store.requests if r.get("external_ids")]
        assert len(deletions) == 3 and len({r["key"] for r in deletions}) == 1, "one key through retries"
