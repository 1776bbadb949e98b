# SPDX-License-Identifier: GPL-2.0-or-later
"""A small synchronous QMP client (stdlib only) for the end-to-end tests."""

import json
import socket
import time


class QMPError(Exception):
    """A QMP command answered with an error."""

    def __init__(self, cmd, err):
        super().__init__(f"{cmd}: {err.get('class')}: {err.get('desc')}")
        self.cls = err.get("class")
        self.desc = err.get("desc")


class QMP:
    """Connects to a QMP unix socket; keeps events in arrival order."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self._read(timeout)            # greeting
        self.cmd("qmp_capabilities")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("QMP: no answer")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QMP: connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, timeout=30.0, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read(timeout)
            if "event" in r:
                r["_t"] = time.monotonic()
                self.events.append(r)
                continue
            if "error" in r:
                raise QMPError(name, r["error"])
            return r.get("return")

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})

    def poll_events(self):
        """Read whatever events are buffered, without blocking long."""
        try:
            while True:
                r = self._read(0.01)
                if "event" in r:
                    r["_t"] = time.monotonic()
                    self.events.append(r)
        except (TimeoutError, socket.timeout):
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
