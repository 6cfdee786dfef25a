"""`linepress preview --watch`: the page served on 127.0.0.1, drawn again on every save.

A `LiveServer` holds the latest render and answers two requests: `GET /` (the
page) and `GET /wait?version=N` (a long poll that answers with the next render's
number as soon as there is one). The page's one script, allowed by a CSP nonce
that is new for every response, waits on `/wait` and reloads itself, so an open
browser tab follows the files without being touched.

`watch()` re-renders when the definition, its imported macro files or the data
change (watchfiles: the OS's file events, with editors' save-by-rename handled).
The server is the standard library's threading HTTP server: it serves one
person's browser on loopback, nothing more, and binds to 127.0.0.1 only. The
page carries recipient data, so it is served only under a random path (other
users of the machine cannot guess it) and only to a request whose Host is this
loopback address (a web page cannot reach it through DNS rebinding).
"""

from __future__ import annotations

import os
import secrets
import socketserver
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from linepress.author.preview import LivePage, PreviewRequest, Rendered, render_preview

#: Where the live page is served: loopback only, never a network interface.
HOST = "127.0.0.1"
#: How long one `/wait` request is held before it answers "no change" (seconds).
WAIT_SECONDS = 25.0
#: Stands for the nonce in a stored render; each response gets its own.
_NONCE_MARK = "linepress-nonce-"


class LiveServer:
    """The latest render of one preview, served to the browser on 127.0.0.1:`port`.

    `port=0` takes any free port (see `url`). `refresh()` renders again and wakes
    the pages waiting for it; `close()` stops serving.
    """

    def __init__(self, request: PreviewRequest, port: int = 0) -> None:
        self.request = request
        self.version = 0
        self._page = ""
        self._mark = ""
        self._changed = threading.Condition()
        #: The page's secret folder, `/<token>/`: only who was told the URL can read it.
        self.root = f"/{secrets.token_urlsafe(18)}/"
        self._http = _QuietServer((HOST, port), _handler_for(self))
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the page is served on."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/<token>/`: what to open in a browser."""
        return f"http://{HOST}:{self.port}{self.root}"

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's Host header names this server (127.0.0.1 or localhost:PORT).

        Anything else is a page reached through DNS rebinding or a misdirected client.
        """
        return host is not None and host.lower() in {
            f"127.0.0.1:{self.port}",
            f"localhost:{self.port}",
        }

    def refresh(self) -> Rendered:
        """Render the preview again (a new version) and wake the waiting pages."""
        version = self.version + 1
        mark = _NONCE_MARK + secrets.token_hex(8)
        live = LivePage(version, mark, wait_path=self.root + "wait")
        rendered = render_preview(self.request, live=live)
        with self._changed:
            self._page, self._mark, self.version = rendered.page, mark, version
            self._changed.notify_all()
        return rendered

    def start(self) -> None:
        """Serve in a background thread (the caller watches the files)."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="linepress-live", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and wake every waiting request."""
        with self._changed:
            self.version += 1  # waiting pages answer now instead of after WAIT_SECONDS
            self._changed.notify_all()
        self._http.shutdown()
        self._http.server_close()

    def page(self) -> tuple[str, str]:
        """The latest page with a fresh nonce, and the nonce (for the CSP header)."""
        nonce = secrets.token_urlsafe(16)
        with self._changed:
            return self._page.replace(self._mark, nonce), nonce

    def wait(self, version: int, timeout: float = WAIT_SECONDS) -> int:
        """The current version once it differs from `version` (or after `timeout`)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)
            return self.version


class _QuietServer(ThreadingHTTPServer):
    """A browser that closed or reloaded its tab mid-answer is normal: say nothing."""

    def handle_error(self, request: socketserver._RequestType, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # broken pipe, reset, aborted: the client went away
        super().handle_error(request, client_address)


def _handler_for(server: LiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "linepress-preview"

        def do_GET(self) -> None:
            if not server.host_allowed(self.headers.get("Host")):
                self.send_error(HTTPStatus.FORBIDDEN, "this page is served to 127.0.0.1 only")
                return
            parts = urlsplit(self.path)
            if parts.path == server.root:
                page, nonce = server.page()
                self._send(page, "text/html; charset=utf-8", nonce)
            elif parts.path == server.root + "wait":
                try:
                    version = int(parse_qs(parts.query).get("version", ["0"])[0])
                except ValueError:
                    version = 0
                self._send(str(server.wait(version)), "text/plain; charset=utf-8")
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def _send(self, text: str, content_type: str, nonce: str | None = None) -> None:
            body = text.encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if nonce is not None:
                from linepress.author.preview import content_security_policy

                policy = content_security_policy(server.request.images, nonce)
                self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the terminal shows renders, not every request."""

    return Handler


def watch(
    server: LiveServer,
    files: Iterable[Path],
    on_render: Callable[[Rendered], None],
    stop: threading.Event | None = None,
) -> None:
    """Render again whenever one of `files` (or a file a render read) changes.

    Watches the folders holding them, so a save by rename is seen too. Returns
    when `stop` is set (or on Ctrl-C, which the caller handles).
    """
    from watchfiles import watch as watch_changes  # only `--watch` pays for loading it

    wanted = {_real(p) for p in files}

    def relevant(_change: object, path: str) -> bool:
        return _real(path) in wanted

    while stop is None or not stop.is_set():
        folders = sorted({str(p.parent) for p in wanted if p.parent.is_dir()})
        for _changes in watch_changes(
            *folders, watch_filter=relevant, stop_event=stop, debounce=200, step=50
        ):
            rendered = server.refresh()
            wanted |= {_real(p) for p in rendered.files}
            on_render(rendered)
            if {str(p.parent) for p in wanted if p.parent.is_dir()} - set(folders):
                break  # a new import in another folder: watch that folder too
        else:
            return  # `stop` was set


def _real(path: str | Path) -> Path:
    """`path` with its links followed; a link loop stays as written (the render reports it).

    Not `Path.resolve()`, which raises on a loop: a broken file is the preview's
    error to show, and a fix to it must still be seen.
    """
    return Path(os.path.realpath(path))
