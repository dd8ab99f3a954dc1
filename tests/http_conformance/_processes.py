"""The processes of a conformance run, each a child on loopback: the suite's origin, nginx, ``daramjwee serve``,
``CacheMiddleware`` on uvicorn.

Each child runs in a session of its own (so stopping it reaches its own
children too, e.g. nginx's workers), logs to a file in the run's directory,
and is stopped on every path by the ``ExitStack`` it was started on.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import daramjwee
from daramjwee.testing._loopback import free_port, wait_until

from ._suite import LOOPBACK_PRELOAD, HarnessError, Suite, node_environment

__all__ = ["Child", "start_daramjwee", "start_middleware", "start_nginx", "start_origin"]

_PROBE = "/state/conformance-harness-probe"  # the origin answers 404; nothing is stored
_STOP_TIMEOUT = 10.0


class Child:
    """A server child process on ``127.0.0.1:port``, logging to ``log``."""

    def __init__(self, name: str, command: list[str], port: int, log: Path, *, cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.log = log
        self.cwd = cwd
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cleanups: ExitStack) -> Child:
        """Start the child (stopped when ``cleanups`` closes) and wait until it answers HTTP on its port."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        cleanups.callback(self.stop)
        try:
            wait_until(self._answers, self.name, self.process)
        except RuntimeError as error:
            raise HarnessError(f"{error}; `{' '.join(self.command)}` logged:\n{self.log_tail()}") from None
        return self

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", _PROBE)
            connection.getresponse().read()
            return True  # any status: the server is up
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def exited(self) -> int | None:
        """The exit status if the child has exited, else ``None`` (also when it was never started)."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the child's session, SIGKILL it if it is still running after 10 s; wait for the child."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            _signal_session(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_session(process.pid, signal.SIGKILL)
                process.wait()


def _signal_session(pid: int, signum: signal.Signals) -> None:
    """Signal the process group that the child ``pid`` leads (its own session, so only it and its children)."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def start_origin(suite: Suite, directory: Path, cleanups: ExitStack) -> Child:
    """The suite's origin server (``npm run server``'s command) on a free loopback port."""
    port = free_port()
    command = ["node", "--require", str(LOOPBACK_PRELOAD), str(suite.server)]
    env = node_environment(suite, port=str(port), pidfile=str(directory / "origin.pid"))
    origin = Child("the suite's origin server", command, port, directory / "origin.log", cwd=suite.root, env=env)
    return origin.start(cleanups)


_NGINX_CONFIG = """\
# The suite's docker/nginx/nginx.conf (proxy_cache with revalidation, HTTP/1.1 upstream) on loopback, with every
# path in this run's directory: runs as an ordinary child process, without root.
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{
    worker_connections 2048;
}}
http {{
    access_log off;
    client_body_temp_path {root}/client-body;
    proxy_temp_path {root}/proxy-temp;
    fastcgi_temp_path {root}/fastcgi-temp;
    uwsgi_temp_path {root}/uwsgi-temp;
    scgi_temp_path {root}/scgi-temp;
    proxy_cache_path {root}/cache levels=1:2 keys_zone=my-cache:8m max_size=1000m inactive=600m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {origin};
            proxy_cache my-cache;
            proxy_cache_revalidate on;
            proxy_http_version 1.1;
        }}
    }}
}}
"""


def start_nginx(origin: Child, directory: Path, cleanups: ExitStack) -> Child:
    """nginx ``proxy_cache`` in front of ``origin``, configured as the suite's own docker setup configures it."""
    if shutil.which("nginx") is None:
        raise HarnessError("nginx is not on PATH: `apt-get install -y nginx` (or `bash scripts/test.sh`)")
    root = directory / "nginx"
    root.mkdir(mode=0o755)
    port = free_port()
    config = root / "nginx.conf"
    config.write_text(_NGINX_CONFIG.format(root=root, port=port, origin=origin.url))
    command = ["nginx", "-p", str(root), "-e", str(root / "error.log"), "-c", str(config)]
    return Child("nginx", command, port, root / "stdout.log", cwd=root, env=dict(os.environ)).start(cleanups)


def start_daramjwee(
    origin: Child, directory: Path, cleanups: ExitStack, *, memory: str, extra: tuple[str, ...] = ()
) -> Child:
    """``daramjwee serve`` (this interpreter's daramjwee) in front of ``origin``, with a cache directory of its own."""
    port = free_port()
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", origin.url, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--cache-dir", str(directory / "daramjwee-cache"), "--memory", memory, *extra]
    log = directory / "daramjwee.log"
    return Child("daramjwee serve", command, port, log, cwd=directory, env=_python_environment()).start(cleanups)


def _python_environment() -> dict[str, str]:
    """This environment, with the directory this interpreter imported ``daramjwee`` from first on ``PYTHONPATH``.

    A child runs in the run's directory, where a relative ``PYTHONPATH``
    (``PYTHONPATH=src``) names nothing: without this it would import
    whichever daramjwee is installed, not the one under test.
    """
    source = str(Path(daramjwee.__file__).resolve().parent.parent)
    inherited = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, *inherited])}


MIDDLEWARE_SCRIPT = Path(__file__).resolve().parent / "middleware_proxy.py"


def start_middleware(origin: Child, directory: Path, cleanups: ExitStack, *, memory: str) -> Child:
    """``CacheMiddleware`` over a reverse proxy to ``origin`` on uvicorn (``middleware_proxy.py``, this interpreter)."""
    port = free_port()
    command = [sys.executable, str(MIDDLEWARE_SCRIPT), "--origin", origin.url, "--port", str(port), "--memory", memory]
    log = directory / "middleware.log"
    env = _python_environment()
    return Child("CacheMiddleware on uvicorn", command, port, log, cwd=directory, env=env).start(cleanups)
