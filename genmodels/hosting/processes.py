"""A Host in a worker process of this machine: `python -m genmodels.hosting.processes`, called over a socket.

The worker is a fresh interpreter (never a fork of the multi-threaded web server), started by
command line rather than `multiprocessing.Process`: Streamlit makes the app's script `__main__`,
which a spawned child would run again. It connects back to its parent's listener with a
one-time key and serves the Host's methods until the connection closes (its parent is gone).
Messages between our own processes are pickled (specs, updates, states) with plain `pickle`:
multiprocessing's own pickler would share tensors through handles of a process tree this is not.
A user's files are never pickled. A worker that dies or stops answering raises `HostLost` in its caller.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import secrets
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from .host import CALL_TIMEOUT, Host, HostLost

NICENESS = 10  # workers yield the CPU to the web process: a page's redraw is waited for, a training step is not
KEY = "GENMODELS_HOST_KEY"  # the one-time key a worker authenticates with, passed in its environment
START_TIMEOUT = 120.0  # seconds a worker may take to import torch and connect (a loaded 2-core machine)
ROOT = Path(__file__).resolve().parents[2]


def serve(conn: Connection, options: dict) -> None:
    """The worker's loop: calls in, results (or the exception) out, until the connection closes."""
    host = Host(**options)
    gc.freeze()  # torch's objects, never garbage: a full collection (0.15 s with the lock held) skips them
    while True:
        try:
            method, args = receive(conn)
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", getattr(host, method)(*args))
        except Exception as e:  # the caller re-raises it (a UserError reaches the page)
            reply = ("error", e)
        try:
            message = pickle.dumps(reply)
        except Exception as e:  # an unpicklable result or exception
            message = pickle.dumps(("error", RuntimeError(f"{method}: {type(e).__name__}: {e}")))
        conn.send_bytes(message)


def receive(conn: Connection):
    return pickle.loads(conn.recv_bytes())


class ProcessHost:
    """A worker process serving one Host. It starts in the background; `call` waits for it, one call at a time."""

    def __init__(self, **options):
        key = secrets.token_bytes(32)
        self._listener = Listener(family="AF_UNIX", authkey=key)
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, KEY: key.hex(), "PYTHONPATH": path}
        self.process = subprocess.Popen([sys.executable, "-m", "genmodels.hosting.processes",
                                         self._listener.address, json.dumps(options)], env=env, cwd=ROOT)
        self._conn: Connection | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="genmodels-host-accept").start()

    def _accept(self) -> None:
        try:
            self._conn = self._listener.accept()
        except OSError:
            pass  # stopped before the worker connected
        finally:
            self._listener.close()
            self._connected.set()

    def _wait_connected(self) -> Connection:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._connected.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise HostLost(f"the training process {self.process.pid} did not start")
        if self._conn is None:
            raise HostLost(f"the training process {self.process.pid} did not start")
        return self._conn

    def call(self, method: str, *args, timeout: float = CALL_TIMEOUT):
        with self._lock:
            conn = self._wait_connected()
            try:
                conn.send_bytes(pickle.dumps((method, args)))
                if not conn.poll(timeout):
                    raise HostLost(f"the training process {self.process.pid} did not answer in {timeout:g} s")
                kind, value = receive(conn)
            except (EOFError, OSError) as e:
                raise HostLost(f"the training process {self.process.pid} stopped ({e or type(e).__name__})") from e
        if kind == "error":
            raise value
        return value

    def started(self) -> None:
        """Wait for the worker to connect and answer; HostLost if it does not within START_TIMEOUT."""
        self.call("ready")

    def stop(self) -> None:
        """End the worker (it is lost: `call` raises HostLost from now on)."""
        self.process.kill()
        self.process.wait(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._listener.close()


def main(address: str, options: str) -> None:
    os.nice(NICENESS)
    try:
        conn = Client(address, family="AF_UNIX", authkey=bytes.fromhex(os.environ.pop(KEY)))
    except OSError:
        return  # the parent stopped this worker before it connected
    serve(conn, json.loads(options))


if __name__ == "__main__":
    main(*sys.argv[1:])
