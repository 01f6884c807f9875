"""A minimal Language Server Protocol client for yaml-language-server, over stdio.

Enough to do what an editor does with a rule file: open it with the rules schema associated,
read the diagnostics the server publishes, ask for hover and completion, shut down. One server
process serves every document of a test session.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
EDITOR_TOOLS = ROOT / "tools" / "editor"
SERVER = EDITOR_TOOLS / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
SCHEMA = ROOT / "schemas" / "rules.schema.json"
TIMEOUT = 60.0


class ServerError(RuntimeError):
    """The server answered a request with an error, died, or did not answer in time."""


class YamlLanguageServer:
    """One running yaml-language-server; `schemas` maps a schema file to the glob patterns of
    the documents it applies to (VS Code's `yaml.schemas` setting)."""

    def __init__(self, node: str, schemas: dict[Path, list[str]]) -> None:
        self.settings: dict[str, Any] = {
            "yaml": {
                "validate": True,
                "hover": True,
                "completion": True,
                "format": {"enable": False},
                "schemaStore": {"enable": False},
                "schemas": {path.resolve().as_uri(): globs for path, globs in schemas.items()},
            },
            "http": {"proxy": "", "proxyStrictSSL": False},
            "editor": {"tabSize": 2},
            "files": {"associations": {}},
        }
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (open while the server runs)
        self.process = subprocess.Popen(
            [node, str(SERVER), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            cwd=ROOT,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.opened: set[str] = set()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.request(
                "initialize",
                {
                    "processId": os.getpid(),
                    "rootUri": ROOT.as_uri(),
                    "workspaceFolders": [{"uri": ROOT.as_uri(), "name": ROOT.name}],
                    "capabilities": {
                        "workspace": {"configuration": True, "didChangeConfiguration": {}},
                        "textDocument": {
                            "publishDiagnostics": {"relatedInformation": True},
                            "hover": {"contentFormat": ["markdown", "plaintext"]},
                            "completion": {
                                "completionItem": {
                                    "snippetSupport": True,
                                    "documentationFormat": ["markdown", "plaintext"],
                                }
                            },
                        },
                    },
                    "initializationOptions": {},
                },
            )
            self.notify("initialized", {})
            self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        except BaseException:
            self.close()  # no server left running, no pipe left open
            raise

    # -- what an editor does -------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        """Open a document (its text on disk unless given) once; returns its URI."""
        uri = path.resolve().as_uri()
        if uri in self.opened:
            raise ValueError(f"{path} is open already: give each document its own path")
        self.opened.add(uri)
        content = path.read_text(encoding="utf-8") if text is None else text
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": content}
        self.notify("textDocument/didOpen", {"textDocument": document})
        return uri

    def wait_for_diagnostics(self, uris: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The diagnostics the server published for each document since it was opened."""
        wanted = set(uris)
        deadline = time.monotonic() + TIMEOUT
        while not wanted <= self.diagnostics.keys():
            self._handle(self._receive(deadline))
        return {uri: self.diagnostics[uri] for uri in wanted}

    def hover(self, uri: str, line: int, col: int) -> str:
        """The hover text at a 1-based line and column ("" when there is none)."""
        result = self.request("textDocument/hover", self._position(uri, line, col))
        if not result:
            return ""
        contents = result["contents"]
        return str(contents["value"] if isinstance(contents, dict) else contents)

    def completion(self, uri: str, line: int, col: int) -> list[dict[str, Any]]:
        """The completion items at a 1-based line and column."""
        result = self.request("textDocument/completion", self._position(uri, line, col))
        items: list[dict[str, Any]] = (
            result.get("items", []) if isinstance(result, dict) else result or []
        )
        return items

    def close(self) -> None:
        """Shut the server down as an editor does (killed if it does not go)."""
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except (ServerError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        for stream in (self.errors, self.process.stdout, self.process.stdin):
            with contextlib.suppress(OSError):  # stdin's last flush fails if the server died
                if stream is not None:
                    stream.close()

    # -- JSON-RPC over stdio -------------------------------------------------------------

    def request(self, method: str, params: object) -> Any:
        self.next_id += 1
        ident = self.next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._receive(deadline)
            if message.get("id") == ident and "method" not in message:
                if "error" in message:
                    raise ServerError(f"{method}: {message['error']}")
                return message.get("result")
            self._handle(message)

    def notify(self, method: str, params: object) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _position(self, uri: str, line: int, col: int) -> dict[str, Any]:
        return {"textDocument": {"uri": uri}, "position": {"line": line - 1, "character": col - 1}}

    def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method == "textDocument/publishDiagnostics":
            params = message["params"]
            self.diagnostics[params["uri"]] = params["diagnostics"]
        elif method is not None and "id" in message:  # a request from the server
            result: Any = None
            if method == "workspace/configuration":
                items = message["params"]["items"]
                result = [self._section(item.get("section")) for item in items]
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _section(self, section: str | None) -> Any:
        value: Any = self.settings
        for part in (section or "").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return value

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            stdin.flush()
        except OSError as error:
            raise ServerError(f"the server is gone: {self._stderr()}") from error

    def _receive(self, deadline: float) -> dict[str, Any]:
        try:
            message = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ServerError(f"no answer from the server in {TIMEOUT:.0f} s") from None
        if message is None:
            self.inbox.put(None)  # for whoever asks next
            raise ServerError(f"the server stopped: {self._stderr()}")
        return message

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            length = None
            while True:
                line = stdout.readline()
                if not line:
                    self.inbox.put(None)
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length is not None:
                self.inbox.put(json.loads(stdout.read(length)))

    def _stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode("utf-8", "replace")[-2000:]
