"""Fixtures: a fake OpenAI-compatible server on 127.0.0.1, and helpers for scripted models.

The server answers POST /v1/chat/completions with whatever the test's ``script(messages)``
returns: a reply text, or ``(status, body)`` for an error. It runs in this process, on its own
threads, which is enough to exercise the Rust HTTP client end to end.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

import pytest


def repl(code: str) -> str:
    """A reply holding one ```repl block."""
    return f"```repl\n{code}\n```"


class FakeServer:
    def __init__(self) -> None:
        self.script: Callable[[List[Dict[str, str]]], Any] = lambda m: "FINAL(ok)"
        self.latency = 0.0
        self.requests: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.latency:
                    time.sleep(server.latency)
                out = server.script(body["messages"])
                status, payload = (200, None)
                if isinstance(out, tuple):
                    status, payload = out
                else:
                    payload = {
                        "id": "x",
                        "object": "chat.completion",
                        "model": body.get("model", "fake-model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": out}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def last_user(messages: List[Dict[str, str]]) -> str:
    return [m["content"] for m in messages if m["role"] == "user"][-1]


def all_text(messages: List[Dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)
