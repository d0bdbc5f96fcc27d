"""A sandbox marketing platform: the bulk audience API that ``http_push`` speaks.

A real HTTP server (standard library, threads) for the demo and the tests, run on
127.0.0.1 in the process that starts it. It keeps each audience's members in
memory, applies a batch once per idempotency key, erases people on
``POST /v1/users/delete``, and can be told to fail the next requests (429 with Retry-After,
500, or a hang past the client's timeout) to exercise retries and resumes. Every
request is kept with the answer it got, so a test can count on the server's side
what a client sent and why it retried.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BATCH_PATH = re.compile(r"^/v1/audiences/([A-Za-z0-9_\-]+)/batch$")
AUDIENCE_PATH = re.compile(r"^/v1/audiences/([A-Za-z0-9_\-]+)$")
DELETE_PATH = "/v1/users/delete"
MEMBER_KEY = "external_id"
SANDBOX_TOKEN = "sandbox-token"  # a sandbox, not a secret: real platforms use Airflow connections


class AudienceStore:
    def __init__(self, token: str):
        self.token = token
        self.audiences: dict[str, dict[str, dict]] = {}
        self.applied_keys: set[str] = set()
        # Every request received, applied or not, with its "answer": the status code
        # sent, or "hang" (held past the client's timeout; its late 503 goes nowhere).
        self.requests: list[dict] = []
        self.deleted: set[str] = set()  # external ids erased through DELETE_PATH
        self.failures: deque = deque()  # planned responses: 429, 500 or "hang"
        self.segment_failures: dict[str, list] = {}  # segment -> [batches to take first, status]
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # ends the hangs when the server stops

    def fail_next(self, *responses) -> None:
        """Plan the next responses: a status code (429 comes with Retry-After: 0), "hang",
        or None for a normal answer."""
        self.failures.extend(responses)

    def fail_segment(self, segment: str, after_batches: int, status: int) -> None:
        """Answer ``status`` once to a batch of ``segment``, after it took ``after_batches``
        more: a refusal in the middle of one push (a token revoked mid-push, say)."""
        self.segment_failures[segment] = [after_batches, status]

    def planned(self, segment: str | None):
        """The planned answer for the next request (None: a normal one)."""
        with self.lock:
            rule = self.segment_failures.get(segment)
            if rule and rule[0] == 0:
                del self.segment_failures[segment]
                return rule[1]
            if rule:
                rule[0] -= 1
            return self.failures.popleft() if self.failures else None

    def apply(self, segment: str, key: str, action: str, members: list[dict]) -> bool:
        with self.lock:
            if key in self.applied_keys:
                return False
            audience = self.audiences.setdefault(segment, {})
            for member in members:
                member_id = str(member.get(MEMBER_KEY, member.get("customer_id")))
                if action == "remove":
                    audience.pop(member_id, None)
                else:
                    audience[member_id] = member
            self.applied_keys.add(key)
            return True

    def delete_users(self, external_ids: list[str]) -> None:
        """Erase people: out of every audience, remembered as deleted."""
        with self.lock:
            for audience in self.audiences.values():
                for member_id in external_ids:
                    audience.pop(str(member_id), None)
            self.deleted |= {str(i) for i in external_ids}


def _handler(store: AudienceStore, hang_seconds: float):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: tests and the demo read the store
            pass

        def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            match = AUDIENCE_PATH.match(self.path)
            if not match:
                return self._reply(404, {"error": "not found"})
            members = store.audiences.get(match.group(1), {})
            self._reply(200, {"members": [members[k] for k in sorted(members)]})

        def do_POST(self) -> None:
            match = BATCH_PATH.match(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            key = self.headers.get("Idempotency-Key", "")
            record = {"segment": match and match.group(1), "key": key, **body}
            store.requests.append(record)

            def answer(status: int, reply: dict, headers: dict | None = None) -> None:
                record.setdefault("answer", status)  # a hang keeps its mark
                self._reply(status, reply, headers)

            if self.headers.get("Authorization") != f"Bearer {store.token}":
                return answer(401, {"error": "bad token"})
            deleting = self.path == DELETE_PATH and isinstance(body.get("external_ids"), list)
            batch_ok = match and body.get("action") in ("upsert", "remove")
            if not (deleting or batch_ok) or not key:
                return answer(400, {"error": "expected a batch or a deletion, and an Idempotency-Key"})
            planned = store.planned(match and match.group(1))
            if planned == "hang":
                record["answer"] = "hang"
                store.stopping.wait(hang_seconds)
                return answer(503, {"error": "too late"})
            if planned == 429:
                return answer(429, {"error": "slow down"}, {"Retry-After": "0"})
            if planned:
                return answer(int(planned), {"error": "injected"})
            if deleting:
                store.delete_users(body["external_ids"])
                return answer(202, {"deleted": len(body["external_ids"])})
            applied = store.apply(match.group(1), key, body["action"], body.get("members", []))
            answer(200, {"applied": applied, "members": len(body.get("members", []))})

    return Handler


class SandboxApi:
    """Start with ``with SandboxApi(token) as api: api.url ...``; stopped on exit."""

    def __init__(self, token: str = SANDBOX_TOKEN, port: int = 0, hang_seconds: float = 2.0):
        self.store = AudienceStore(token)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.store, hang_seconds))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SandboxApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.store.stopping.set()
        self.server.shutdown()
        self.server.server_close()
