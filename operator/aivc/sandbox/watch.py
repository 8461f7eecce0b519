"""The parent's watch over one child: its pipes, its control socket, its exit, its deadline.

Whatever the child writes, the parent's memory stays bounded: the merged stdout/stderr
keeps a 16 KiB tail, the status channel is parsed line by line up to `STATUS_CAP_BYTES` in
all (past that the child is killed: only the harness writes there, and it writes little),
each kind of event is kept once, and the control socket yields one descriptor, the child's
working directory. Reads are 64 KiB at a time.

The child's clock marks, all taken by the parent on arrival: ``confined`` and ``ready``
(harness code, before any candidate code), ``go`` (sent by the parent once it has checked
the child's layers), the first ``start`` of each level (sent by the harness just before it
calls encode or decode; the candidate may forge earlier ones, which only moves time from
one of its own stages to another) and the exit.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

OUTPUT_TAIL_BYTES = 16 * 1024
STATUS_CAP_BYTES = 64 * 1024
READ_BYTES = 65536
FINAL_EVENTS = ("done", "error", "harness")


class Watch:
    """Reads the child's channels until it exits, the deadline passes, or it floods."""

    def __init__(self, pid: int, out_fd: int, status_fd: int, control: socket.socket,
                 deadline: float, on_ready: Callable[[Watch], bool]) -> None:
        self.pid, self.out_fd, self.status_fd, self.control = pid, out_fd, status_fd, control
        self.deadline, self.on_ready = deadline, on_ready
        self.spawned_at = time.monotonic()
        self.confined_at: float | None = None
        self.ready_at: float | None = None
        self.go_at: float | None = None
        self.exited_at: float | None = None
        self.starts: dict[int, float] = {}
        self.timed_out = self.flooded = self.refused = False
        self.output = bytearray()
        self.status = bytearray()
        self.status_bytes = 0
        self.events: dict[str, dict[str, Any]] = {}
        self.workfd: int | None = None
        self.pidfd = os.pidfd_open(pid)
        self.sel = selectors.DefaultSelector()
        for fd in (out_fd, status_fd):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ)
        self.sel.register(control, selectors.EVENT_READ)
        self.sel.register(self.pidfd, selectors.EVENT_READ)

    def run(self) -> None:
        while self.exited_at is None and not (self.flooded or self.refused):
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return
            ready = [key.fileobj for key, _ in self.sel.select(left)]
            for obj in ready:
                if obj is self.control:
                    self._receive_fd()
                elif isinstance(obj, int) and obj != self.pidfd:
                    self._read(obj)
            if self.pidfd in ready:
                self.exited_at = time.monotonic()

    def drain(self) -> None:
        """After the kill: whatever is still buffered in the pipes (writers are gone)."""
        for fd in (self.out_fd, self.status_fd):
            for _ in range(64):
                if self.flooded or not self._read(fd):
                    break

    def close(self) -> None:
        self.sel.close()
        for fd in (self.out_fd, self.status_fd, self.pidfd):
            os.close(fd)
        self.control.close()

    def take_workdir(self) -> int | None:
        fd, self.workfd = self.workfd, None
        return fd

    def _receive_fd(self) -> None:
        fds = array.array("i")
        try:
            data, ancillary, _, _ = self.control.recvmsg(
                64, socket.CMSG_LEN(4 * fds.itemsize), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not data and not fds and self.control in self.sel.get_map():
            self.sel.unregister(self.control)
        for fd in fds:
            if self.workfd is None and self.go_at is None:
                self.workfd = fd
            else:
                os.close(fd)

    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, READ_BYTES)
        except (BlockingIOError, OSError):
            return False
        if not data:
            if fd in self.sel.get_map():
                self.sel.unregister(fd)
            return False
        if fd == self.out_fd:
            self.output += data
            del self.output[:-OUTPUT_TAIL_BYTES]
            return True
        self.status_bytes += len(data)
        if self.status_bytes > STATUS_CAP_BYTES:
            self.flooded = True
            return False
        self.status += data
        self._parse_lines()
        return True

    def _parse_lines(self) -> None:
        while b"\n" in self.status:
            line, _, rest = bytes(self.status).partition(b"\n")
            self.status = bytearray(rest)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._take(event)

    def _take(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        now = time.monotonic()
        if kind == "confined" and self.confined_at is None:
            self.confined_at = now
        elif kind == "ready" and self.ready_at is None:
            self.ready_at = now
            self.events["ready"] = event
            if self.workfd is None and self.control in self.sel.get_map():
                self._receive_fd()  # sent before `confined`, so already waiting
            if not self.on_ready(self):
                self.refused = True
                return
            with contextlib.suppress(OSError):  # the child is gone; its exit tells the rest
                self.control.send(b"go")
            self.go_at = time.monotonic()
        elif kind == "start" and self.go_at is not None:
            level = event.get("level")
            if type(level) is int and level not in self.starts and len(self.starts) < 64:
                self.starts[level] = now
        elif kind in FINAL_EVENTS and isinstance(kind, str) and (kind != "done" or self.go_at):
            self.events[kind] = event

    def import_seconds(self) -> float:
        """Loading what the candidate imports (libraries, its module body): from `confined`
        to `ready`, and from `go` to its first `start` (or its end)."""
        if self.confined_at is None or self.ready_at is None or self.go_at is None:
            return 0.0
        first = min(self.starts.values(), default=self.end())
        return (self.ready_at - self.confined_at) + max(0.0, first - self.go_at)

    def end(self) -> float:
        return self.exited_at if self.exited_at is not None else time.monotonic()

    def level_seconds(self, order: list[int]) -> dict[int, float]:
        """Each level's share of the time from its `start` to the next one's (or the end),
        in the order the levels were given; marks out of order are clamped."""
        out: dict[int, float] = {}
        marks = []
        last = self.go_at or self.spawned_at
        for level in order:
            if level not in self.starts:
                break
            last = max(last, self.starts[level])
            marks.append((level, last))
        for i, (level, t) in enumerate(marks):
            stop = marks[i + 1][1] if i + 1 < len(marks) else self.end()
            out[level] = max(0.0, stop - t)
        return out
