"""A TCP forwarder in front of a real server, which a test cuts (every connection dropped, new
ones refused), turns into a hole (nothing forwarded, new connections accepted and never
answered, as a network dropping packets) and restores: a database outage without touching
the database."""

from __future__ import annotations

import errno
import random
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self


def _free_port_below_the_ephemeral_range() -> int:
    """A free port the kernel never hands out as a client's own: while the proxy is cut, a client
    retrying its connection could otherwise be given the proxy's port as its source and connect to
    itself (TCP simultaneous open), holding the port so that the proxy cannot listen again."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            probe.close()
        return port
    raise RuntimeError("no free port below the ephemeral range")


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port: int = _free_port_below_the_ephemeral_range()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._open = threading.Event()
        self._silent = threading.Event()
        self._held: list[socket.socket] = []

    def start(self) -> Self:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError as e:
                # Just after a cut, the accepting thread may still hold the old listener for
                # up to its accept timeout: wait for it rather than fail the test.
                if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._open.set()
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and drop every open one, as a database going away does."""
        self._open.clear()
        self._silent.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            dropped, self._sockets = self._sockets | set(self._held), set()
            self._held = []
        for s in dropped:
            _close(s)

    def hole(self) -> None:
        """Go silent: open connections stay open but nothing more is forwarded either way, and
        new connections are accepted and never answered (no refusal, no reset)."""
        self._silent.set()

    def restore(self) -> None:
        """Back to forwarding: after a cut a new listener, after a hole the silent connections
        are dropped (as a network coming back finds them reset)."""
        if self._silent.is_set():
            self._silent.clear()
            with self._lock:
                dropped, self._sockets = self._sockets | set(self._held), set()
                self._held = []
            for s in dropped:
                _close(s)
        if self._listener is None:
            self.start()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sockets)

    def _accept(self, listener: socket.socket) -> None:
        while self._open.is_set() and listener is self._listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            if self._silent.is_set():
                with self._lock:
                    self._held.append(client)  # accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if not self._open.is_set():
                    _close(client)
                    _close(upstream)
                    continue
                self._sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._silent.is_set():
                    continue  # dropped on the floor
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._sockets -= {src, dst}
        _close(src)
        _close(dst)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cut()


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
