"""A Hugging Face Hub on 127.0.0.1: model repositories served in the Hub's layout, for download tests that
never reach the internet. Point huggingface_hub at it with $HF_ENDPOINT (and an empty $HF_HOME).

It answers what ``snapshot_download`` and ``hf_hub_download`` ask: the revision (``/api/models/R/revision/V``),
the file tree (``/api/models/R/tree/SHA``) and each file (``HEAD``/``GET /R/resolve/V/PATH`` with the commit
and ETag headers); ``requests`` lists the paths asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse


@contextlib.contextmanager
def serve_hub(repos: dict[str, Path]) -> Iterator[dict]:
    """Serve ``repos`` (repository id → folder of its files); yields {"url", "requests", "commits"}."""
    files = {
        repo: {p.relative_to(d).as_posix(): p for p in sorted(d.rglob("*")) if p.is_file()} for repo, d in repos.items()
    }
    commits = {
        repo: hashlib.sha1(json.dumps(sorted((k, p.stat().st_size) for k, p in fs.items())).encode()).hexdigest()
        for repo, fs in files.items()
    }
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, value) -> None:
            self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json"})

        def _answer(self, head: bool) -> None:
            path = unquote(urlparse(self.path).path)
            requests.append(path)
            for repo, fs in files.items():
                sha = commits[repo]
                if path.startswith(f"/api/models/{repo}/revision/"):
                    return self._json({"id": repo, "sha": sha, "siblings": [{"rfilename": k} for k in fs]})
                if path.startswith(f"/api/models/{repo}/tree/"):
                    return self._json(
                        [{"type": "file", "path": k, "size": p.stat().st_size, "oid": _oid(p)} for k, p in fs.items()]
                    )
                prefix = f"/{repo}/resolve/"
                if path.startswith(prefix):
                    _, _, name = path[len(prefix) :].partition("/")
                    if name not in fs:
                        return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha}, head)
                    body = fs[name].read_bytes()
                    headers = {"X-Repo-Commit": sha, "ETag": f'"{_oid(fs[name])}"'}
                    return self._send(200, body, headers, head)
            self._send(404, b"", {"X-Error-Code": "RepoNotFound"}, head)

        def do_GET(self):
            self._answer(head=False)

        def do_HEAD(self):
            self._answer(head=True)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "requests": requests, "commits": commits}
    finally:
        server.shutdown()
        server.server_close()


def _oid(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()
