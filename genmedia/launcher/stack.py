"""`genmedia-stack` (`make run`): the whole stack on embedded defaults — the Temporal dev server, the
progress, image and video services, the orchestrator API and worker, the HTTP gateway and console — each
a child process with its log under var/logs. Waits until all are healthy, prints the endpoints and one
ready line, then restarts any that dies (genmedia.launcher.supervise); Ctrl-C or SIGTERM stops everything
(reverse order, SIGTERM then SIGKILL after the grace period), leaving no process behind.
`--demo` runs one video job with a live progress bar in between."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from genmedia.config import METRICS_PORTS, PORTS, ConfigError, Section, Var, env_int, env_str, var_dir
from genmedia.launcher.stackcheck import endpoints_table, wait_grpc_healthy, wait_http_healthy, wait_temporal
from genmedia.launcher.supervise import Supervisor, log_tail
from genmedia.serving.auth import Authenticator

# One task-queue partition: Temporal orders a backlog by priority within a partition, and one dev server
# has no use for more. The dev server has one history shard, whose task queues are read at most 20 times a
# second by default: every hop of a job (its activity, the workflow task after it) then waits up to 50 ms
# once jobs follow each other closely (docs/orchestration.md, "The dev server's history shard").
TEMPORAL_DEV_ARGS = ("--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
                     "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
                     "--dynamic-config-value", "matching.useNewMatcher=true",
                     "--dynamic-config-value", "history.transferProcessorMaxPollRPS=200",
                     "--dynamic-config-value", "history.timerProcessorMaxPollRPS=200")
BIN = Path(sys.executable).parent
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in each child before exec: the kernel sends it SIGTERM if the launcher dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    ready: str  # what "healthy" means: temporal | worker | a gRPC service name
    port: int = 0
    metrics_port: int = -1
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_offset: int = 0  # where this start's lines begin in its log (earlier runs' lines come before)


@dataclass
class Layout:
    """Every address of the stack, from GENMEDIA_* variables or the documented defaults."""

    var: Path
    temporal_port: int = field(default_factory=lambda: env_int("GENMEDIA_TEMPORAL_PORT", 7233, 1, 65535))
    temporal_ui_port: int = field(default_factory=lambda: env_int("GENMEDIA_TEMPORAL_UI_PORT", 8233, -1, 65535))
    ports: dict[str, int] = field(default_factory=lambda: {
        name: env_int(f"GENMEDIA_{name.upper()}_PORT", port, 1, 65535) for name, port in PORTS.items()})
    metrics: dict[str, int] = field(default_factory=lambda: {
        name: env_int(f"GENMEDIA_{name.upper()}_METRICS_PORT", port, -1, 65535)
        for name, port in METRICS_PORTS.items()})

    @property
    def temporal_addr(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def env(self) -> dict[str, str]:
        # The stack's own dev server: a TEMPORAL_* setting of the shell (a cloud address, an API key) is not for it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env.update(GENMEDIA_VAR_DIR=str(self.var), GENMEDIA_TEMPORAL_ADDR=self.temporal_addr)
        # One machine, one user: notifications may go to receivers on it (the services' default refuses them).
        env.setdefault("GENMEDIA_NOTIFY_PRIVATE_ADDRESSES", "allow")
        for name, port in self.ports.items():
            env[f"GENMEDIA_{name.upper()}_PORT"] = str(port)
            env[f"GENMEDIA_{name.upper()}_ADDR"] = f"127.0.0.1:{port}"
        for name, port in self.metrics.items():
            env[f"GENMEDIA_{name.upper()}_METRICS_PORT"] = str(port)
        return env

    def children(self) -> list[Child]:
        temporal = [str(BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1",
                    "--port", str(self.temporal_port), "--db-filename", str(self.var / "temporal.db"),
                    "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
                    "--log-level", "warn", *TEMPORAL_DEV_ARGS]
        temporal += ["--headless"] if self.temporal_ui_port < 0 else ["--ui-port", str(self.temporal_ui_port)]
        py = [sys.executable, "-m"]
        return [
            Child("temporal", temporal, "temporal", self.temporal_port),
            Child("progress", [*py, "services.progress"], "genmedia.v1.ProgressService",
                  self.ports["progress"], self.metrics["progress"]),
            Child("image", [*py, "services.image"], "genmedia.v1.ImageService",
                  self.ports["image"], self.metrics["image"]),
            Child("video", [*py, "services.video"], "genmedia.v1.VideoService",
                  self.ports["video"], self.metrics["video"]),
            Child("orchestrator", [*py, "services.orchestrator", "--role", "api"], "genmedia.v1.JobService",
                  self.ports["orchestrator"], self.metrics["orchestrator"]),
            Child("worker", [*py, "services.orchestrator", "--role", "worker"], "",  # "": its pollers are seen
                  self.ports["worker"], self.metrics["worker"]),
            Child("gateway", [*py, "services.gateway"], "http", self.ports["gateway"], self.metrics["gateway"]),
        ]


class StackError(Exception):
    """The stack could not start; the message says why."""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    def __init__(self, layout: Layout, console: Console) -> None:
        self.layout, self.console = layout, console
        self.children = layout.children()
        self.logs = layout.var / "logs"
        self.run_dir = layout.var / "run"  # <name>.pid of every child while the stack runs
        self.grace = float(env_str("GENMEDIA_SHUTDOWN_GRACE_SECONDS", "10"))

    def check_ports(self) -> None:
        busy = [f"{c.name} :{p}" for c in self.children for p in (c.port, c.metrics_port)
                if p > 0 and not _port_free(p)]
        if self.layout.temporal_ui_port > 0 and not _port_free(self.layout.temporal_ui_port):
            busy.append(f"temporal UI :{self.layout.temporal_ui_port}")
        if busy:
            raise StackError(f"ports already in use: {', '.join(busy)} (is another stack running? "
                             "set GENMEDIA_*_PORT to move it)")

    def spawn(self, child: Child) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{child.name}.log"
        child.log_offset = path.stat().st_size if path.exists() else 0
        log = path.open("ab")
        child.process = subprocess.Popen(child.argv, env=self.layout.env(), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        log.close()
        (self.run_dir / f"{child.name}.pid").write_text(f"{child.process.pid}\n")

    def tail(self, child: Child) -> str:
        """The last lines the child logged since it was last started."""
        return log_tail(self.logs / f"{child.name}.log", child.log_offset)

    async def wait_ready(self, child: Child, timeout: float = 90.0) -> None:
        addr = f"127.0.0.1:{child.port}"
        if child.ready == "temporal":
            check = wait_temporal(addr)
        elif child.ready == "http":
            check = wait_http_healthy(addr)
        else:
            check = wait_grpc_healthy(addr, child.ready)
        task = asyncio.ensure_future(check)
        while not task.done():
            if child.process.poll() is not None:
                task.cancel()
                raise StackError(f"{child.name} exited with {child.process.returncode}:\n{self.tail(child)}")
            await asyncio.wait([task], timeout=0.2)
            timeout -= 0.2
            if timeout <= 0:
                task.cancel()
                raise StackError(f"{child.name} not healthy in time; see {self.logs / child.name}.log")
        task.result()

    async def start(self) -> None:
        self.check_ports()
        self.layout.var.mkdir(parents=True, exist_ok=True)
        first, services, orchestration = self.children[:1], self.children[1:4], self.children[4:6]
        for group in (first, services, orchestration, self.children[6:]):
            for child in group:
                self.spawn(child)
            await asyncio.gather(*(self.wait_ready(c) for c in group))

    def stop(self) -> None:
        """Stops the children newest first: SIGTERM, the grace period, then SIGKILL."""
        for child in reversed(self.children):
            proc = child.process
            if proc is None:
                continue
            (self.run_dir / f"{child.name}.pid").unlink(missing_ok=True)
            if proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace + 5)
            except subprocess.TimeoutExpired:
                self.console.print(f"{child.name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def print_endpoints(self) -> None:
        self.console.print(endpoints_table(self.layout, self.children))


async def _main(args: argparse.Namespace) -> int:
    # Piped into a file or another program, the table keeps whole addresses rather than wrapping at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    stack = Stack(Layout(var_dir()), console)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        console.print(f"starting genmedia (logs in {stack.logs}) …")
        starting = asyncio.create_task(stack.start())
        await asyncio.wait([starting, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            return 130
        try:
            starting.result()
        except StackError as err:
            console.print(f"[red]genmedia could not start:[/] {escape(str(err))}", soft_wrap=True)
            return 1
        stack.print_endpoints()
        console.print(f"web console: http://127.0.0.1:{stack.layout.ports['gateway']}/", soft_wrap=True)
        if not _auth_enabled():
            console.print("[yellow]authentication is OFF:[/] every caller is 'anonymous' with full access "
                          "(fine on this machine; see docs/security.md before sharing it)")
        if stack.layout.env()["GENMEDIA_NOTIFY_PRIVATE_ADDRESSES"] == "allow":
            console.print("[yellow]notifications may go to private and loopback addresses[/] "
                          "(GENMEDIA_NOTIFY_PRIVATE_ADDRESSES=allow: set it to refuse before sharing the stack)")
        cli = "genmedia" if shutil.which("genmedia") == str(BIN / "genmedia") else os.path.relpath(BIN / "genmedia")
        console.print("[bold green]genmedia is ready[/] — "
                      f"try: {cli} video \"a lighthouse at dusk\" --watch   (Ctrl-C stops the stack)")
        supervising = asyncio.create_task(Supervisor(stack).run())
        try:
            if args.demo:
                code = await _demo(stack, args.prompt)
            else:
                await stop.wait()
        finally:
            supervising.cancel()  # no restart while the stack stops
            await asyncio.gather(supervising, return_exceptions=True)
    finally:
        console.print("stopping genmedia …")
        stack.stop()
        console.print("stopped")
    return code


def _auth_enabled() -> bool:
    try:
        return Authenticator.from_env().enabled
    except ConfigError:
        return True  # the services refuse to start and say why


async def _demo(stack: Stack, prompt: str) -> int:
    proc = await asyncio.create_subprocess_exec(str(BIN / "genmedia"), "video", prompt, "--watch",
                                                env=stack.layout.env())
    return await proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genmedia-stack", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="run one video job, then stop the stack")
    parser.add_argument("--prompt", default="a lighthouse at dusk", help="the demo's prompt")
    sys.exit(asyncio.run(_main(parser.parse_args(argv))))


if __name__ == "__main__":
    main()


ENV = Section("`make run` (the launcher)", (
    Var("GENMEDIA_TEMPORAL_PORT", "7233", "the Temporal dev server's port"),
    Var("GENMEDIA_TEMPORAL_UI_PORT", "8233", "its web UI's port; -1: no UI"),
), note="The launcher also reads every server's GENMEDIA_<SERVICE>_PORT and GENMEDIA_<SERVICE>_METRICS_PORT, and "
        "sets GENMEDIA_NOTIFY_PRIVATE_ADDRESSES=allow unless it is set.")
