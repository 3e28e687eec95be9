"""A local Neo4j Community server for machines without Docker (`kg neo4j install|start|stop|status`).

The server is assembled from Maven Central by the recipe ``pom.xml`` beside this file (Neo4j
5.26 LTS, its Browser, APOC core) into a home folder, and runs on loopback ports with its own
data folder. The home is ``--home``, else ``$MEDKG_NEO4J_HOME``, else ``~/.local/share/medkg/neo4j``.

The ``neo4j`` user's password is ``$NEO4J_PASSWORD`` when set at the first start, else a random one;
either way it is kept in ``<home>/conf/medkg-password`` (mode 600) and never printed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kg.core.environment import medkg_env, neo4j_env
from kg.core.errors import Conflict, NotFound, Unavailable
from kg.core.extras import require

JVM_OPTS = [
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dlog4j2.disable.jmx=true",
]



@dataclass(frozen=True)
class ServerHome:
    path: Path

    @classmethod
    def resolve(cls, home: Path | str | None = None) -> ServerHome:
        if home is None:
            home = medkg_env().neo4j_home or Path.home() / ".local" / "share" / "medkg" / "neo4j"
        return cls(Path(home).expanduser().resolve())

    @property
    def lib(self) -> Path:
        return self.path / "recipe" / "target" / "neo4j" / "lib"

    @property
    def plugins(self) -> Path:
        return self.path / "plugins"

    @property
    def conf(self) -> Path:
        return self.path / "conf"

    @property
    def pid_file(self) -> Path:
        return self.path / "run" / "medkg-neo4j.pid"

    @property
    def ports_file(self) -> Path:
        return self.path / "run" / "medkg-ports"

    @property
    def password_file(self) -> Path:
        return self.conf / "medkg-password"

    @property
    def installed(self) -> bool:
        return self.lib.is_dir() and any(self.lib.glob("neo4j-server-*.jar"))

    def password(self) -> str:
        if not self.password_file.is_file():
            raise NotFound(f"no password stored in {self.password_file}", code="E204", fix="start the server once with `kg neo4j start`")
        return self.password_file.read_text().strip()

    def ports(self) -> tuple[int, int]:
        if self.ports_file.is_file():
            bolt, http = self.ports_file.read_text().split()
            return int(bolt), int(http)
        return 7687, 7474

    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.ports()[0]}"


def install(home: ServerHome, *, quiet: bool = False) -> None:
    """Assemble the server with Maven (downloads jars from Maven Central into ~/.m2 once)."""
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise Unavailable("installing the local Neo4j needs Maven and a Java 17+ runtime", code="E411",
                         fix="install them (e.g. apt-get install maven openjdk-17-jre-headless), or use docker/compose.yaml")
    recipe = home.path / "recipe"
    recipe.mkdir(parents=True, exist_ok=True)
    src = resources.files("kg.neo4j_local") / "pom.xml"
    (recipe / "pom.xml").write_bytes(src.read_bytes())
    cmd = ["mvn", "-B", "-q" if quiet else "-ntp", "-f", str(recipe / "pom.xml"), "package"]
    p = subprocess.run(cmd, capture_output=quiet, text=True)
    if p.returncode != 0:
        tail = (p.stdout or "")[-2000:] + (p.stderr or "")[-2000:] if quiet else ""
        raise Unavailable(f"Maven could not assemble Neo4j (exit {p.returncode}) {tail}", code="E412",
                          fix="check network access to Maven Central and rerun `kg neo4j install`")
    home.plugins.mkdir(parents=True, exist_ok=True)
    for jar in (recipe / "target" / "neo4j" / "plugins").glob("*.jar"):
        shutil.copyfile(jar, home.plugins / jar.name)


def write_conf(home: ServerHome, bolt: int, http: int) -> None:
    home.conf.mkdir(parents=True, exist_ok=True)
    for d in ("data", "logs", "run", "import"):
        (home.path / d).mkdir(parents=True, exist_ok=True)
    (home.conf / "neo4j.conf").write_text(
        "\n".join(
            [
                "# written by `kg neo4j start`; edit the medkg settings there, not here",
                "server.default_listen_address=127.0.0.1",
                f"server.bolt.listen_address=127.0.0.1:{bolt}",
                f"server.bolt.advertised_address=127.0.0.1:{bolt}",
                f"server.http.listen_address=127.0.0.1:{http}",
                "server.https.enabled=false",
                "server.directories.plugins=plugins",
                "server.directories.import=import",
                "server.directories.data=data",
                "server.directories.logs=logs",
                "server.directories.run=run",
                "dbms.security.procedures.unrestricted=apoc.*",
                "dbms.security.procedures.allowlist=apoc.*",
                "server.memory.pagecache.size=512m",
                "db.tx_log.rotation.retention_policy=2 files",
                "browser.remote_content_hostname_whitelist=127.0.0.1,localhost",
                "",
            ]
        )
    )
    home.ports_file.write_text(f"{bolt} {http}\n")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pid_of(home: ServerHome) -> int | None:
    try:
        pid = int(home.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _java(home: ServerHome, main: str, args: list[str], **kw) -> subprocess.CompletedProcess:
    cp = f"{home.lib}/*:{home.plugins}/*"
    env = {**os.environ, "NEO4J_HOME": str(home.path), "NEO4J_CONF": str(home.conf)}
    return subprocess.run(["java", "-cp", cp, main, *args], env=env, cwd=home.path, **kw)


def admin(home: ServerHome, args: list[str]) -> subprocess.CompletedProcess:
    """Run ``neo4j-admin`` (org.neo4j.cli.AdminTool) of the assembled server."""
    return _java(home, "org.neo4j.cli.AdminTool", args, capture_output=True, text=True)


def start(home: ServerHome, *, bolt: int = 7687, http: int = 7474, heap: str = "1g", wait_s: float = 180.0) -> str:
    """Start the server (installing it first if needed); returns the Bolt URI once Bolt answers. A start that fails
    or is interrupted after the server was launched stops it again: nothing is left running without an owner."""
    require("neo4j", "starting medkg's Neo4j")  # the wait for Bolt uses the driver: checked before any work
    if pid_of(home) is not None:
        return home.uri()
    if not home.installed:
        install(home, quiet=True)
    for port in (bolt, http):
        if not _port_free(port):
            raise Conflict(f"port {port} on 127.0.0.1 is in use", code="E302", fix="pass --bolt-port/--http-port with free ports")
    write_conf(home, bolt, http)
    first = not (home.path / "data" / "dbms" / "auth.ini").exists()
    if first:
        pw = neo4j_env().password.get_secret_value() or secrets.token_urlsafe(18)
        p = admin(home, ["dbms", "set-initial-password", pw])
        if p.returncode != 0:
            raise Unavailable("could not set the initial password: " + (p.stderr or p.stdout)[-500:], code="E413",
                              fix=f"check the Java runtime and {home.path}")
        home.password_file.write_text(pw + "\n")
        home.password_file.chmod(0o600)
    log = (home.path / "logs" / "console.log").open("ab")
    cp = f"{home.lib}/*:{home.plugins}/*"
    proc = subprocess.Popen(
        ["java", f"-Xms{heap}", f"-Xmx{heap}", *JVM_OPTS, "-cp", cp, "org.neo4j.server.CommunityEntryPoint",
         f"--home-dir={home.path}", f"--config-dir={home.conf}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=home.path, start_new_session=True,
        env={**os.environ, "NEO4J_HOME": str(home.path), "NEO4J_CONF": str(home.conf)},
    )
    home.pid_file.write_text(f"{proc.pid}\n")
    try:
        _wait_for_bolt(home, proc, wait_s)
    except BaseException:  # an error, Ctrl-C: the server this call launched does not outlive it
        stop(home)
        raise
    return home.uri()


def _wait_for_bolt(home: ServerHome, proc: subprocess.Popen, wait_s: float) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, ServiceUnavailable

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"Neo4j exited with code {proc.returncode} while starting", code="E414",
                              fix=f"read {home.path / 'logs' / 'console.log'} and {home.path / 'logs' / 'neo4j.log'}")
        try:
            with GraphDatabase.driver(home.uri(), auth=("neo4j", home.password())) as d:
                d.verify_connectivity()
            return
        except (ServiceUnavailable, OSError):
            time.sleep(0.5)
        except AuthError:
            raise Unavailable("the stored password was rejected", code="E415",
                              fix=f"remove {home.path / 'data'} to reset the server") from None
    raise Unavailable(f"Neo4j did not answer on Bolt within {wait_s:.0f} s", code="E410", fix=f"read {home.path / 'logs' / 'neo4j.log'}")


def stop(home: ServerHome, *, timeout_s: float = 60.0) -> bool:
    """Stop the server cleanly (SIGTERM, then SIGKILL after ``timeout_s``). False if it was not running."""
    pid = pid_of(home)
    if pid is None:
        home.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        _reap(pid)
        time.sleep(0.3)
    else:
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    home.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill(home: ServerHome) -> None:
    """SIGKILL the server (for fault tests: the process dies as in a crash)."""
    pid = pid_of(home)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            _reap(pid)
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
    home.pid_file.unlink(missing_ok=True)


def guide_dir() -> Path:
    return Path(str(resources.files("kg.neo4j_local") / "guide"))


def serve_guide(port: int = 8089, *, block: bool = True, host: str = "127.0.0.1"):
    """Serve the Browser guide (``medkg.html``) and style (``medkg.grass``) on ``host``:``port`` (loopback by default),
    with the CORS header the Browser needs for ``:play``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self):
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
            super().end_headers()

        def do_OPTIONS(self):  # the Browser's CORS preflight
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer((host, port), functools.partial(Handler, directory=str(guide_dir())))
    if not block:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
