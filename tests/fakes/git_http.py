"""A git server over real smart HTTP on loopback, with Basic authentication.

Each request is checked against one user name and token, then handed to git's own CGI
program, `git http-backend`, as a web server would (GIT_PROJECT_ROOT, PATH_INFO,
REMOTE_USER ...), so clones and pushes go through the same protocol and credential
negotiation as with a hosted remote: a client without the right credentials gets 401.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit


class GitHttpServer:
    def __init__(self, root: Path, username: str, token: str) -> None:
        self.root, self.username, self.token = Path(root), username, token
        self.requests: list[tuple[str, str, int]] = []
        """(method, path, status) of every request, unauthorised ones included."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def bare_repo(self, name: str) -> Path:
        path = self.root / name
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
        return path

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"git": self})


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while (size := int(handler.rfile.readline().strip() or b"0", 16)) > 0:
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()
        return b"".join(chunks)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _parse_cgi(output: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a CGI program's output."""
    head, _, payload = output.partition(b"\r\n\r\n")
    status, headers = 200, []
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers.append((key, value.strip()))
    return status, headers, payload


class _Handler(BaseHTTPRequestHandler):
    git: GitHttpServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, *args: object) -> None:
        pass

    def _authorised(self) -> bool:
        expected = base64.b64encode(f"{self.git.username}:{self.git.token}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        if not self._authorised():
            self.git.requests.append((self.command, url.path, 401))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = _read_body(self)
        env = {"GIT_PROJECT_ROOT": str(self.git.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": url.path, "QUERY_STRING": url.query, "REQUEST_METHOD": self.command,
               "REMOTE_USER": self.git.username, "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                              check=False)
        status, headers, payload = _parse_cgi(proc.stdout)
        self.git.requests.append((self.command, url.path, status))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
