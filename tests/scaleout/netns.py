"""The network of the scale-out test bed: one namespace per machine, all on one bridge.

Facts and strategy:
- Every machine (three Rush hosts, the load balancer, the client) is a network namespace with
  one veth interface, `eth0`, whose peer is a port of a bridge that lives in a namespace of its
  own. Nothing is added to the root namespace, so the bed cannot clash with the machine's own
  network, its firewall or another run: two runs have two private 10.77.0.0/24 networks.
- Namespace names are `rushso-<pid>-<role>`, <pid> being the process that made them; a run
  removes the namespaces of runs whose process is gone (a crash, a SIGKILL) before it starts,
  after killing by PID whatever still runs inside them.
- A link failure is `ip link set ... down` on the host's bridge port: the host keeps running
  and keeps its address, but nothing reaches it any more (packets are dropped, no RST).
- The test process itself stays in the root namespace. Code that must speak from inside a
  namespace runs on a thread that first joins it with setns(2): a network namespace belongs to
  a thread, not to the process, so the other threads are unaffected (`run_in`, `enter`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

PREFIX = "rushso-"
SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000
OWNER = re.compile(rf"^{PREFIX}(\d+)-")  # names of namespaces and temporary directories
_T = TypeVar("_T")


@dataclass(frozen=True)
class Machine:
    """One namespace on the bed: its role (`h1`, `lb`, ...), namespace name and address."""

    role: str
    netns: str
    address: str

    @property
    def port_name(self) -> str:
        """Its bridge port (in the bridge's namespace), the end a link failure takes down."""
        return f"p-{self.role}"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip ARGS`, bounded in time; raises with ip's own message when it fails and `check`."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


@functools.cache
def why_unusable() -> str | None:
    """Why the bed cannot be built here (not root, no `ip netns`), or None when it can.
    Asked once per process: it makes and removes a namespace to find out."""
    if os.geteuid() != 0:
        return "the scale-out test bed needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "the scale-out test bed needs iproute2 (`ip`)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        made = ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"`ip netns add` fails here: {made.stderr.strip()}"
        link = ip("-n", probe, "link", "add", "probe0", "type", "bridge", check=False)
        if link.returncode != 0:
            return f"no bridge in a network namespace here: {link.stderr.strip()}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


def owner_alive(pid: int) -> bool:
    """Whether the run that made a namespace still runs (a reused PID is not a Python run)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"python" in f.read()
    except OSError:
        return False


def remove_namespace(name: str) -> None:
    """Kill by PID what still runs in namespace `name` (only ours: it has our prefix), drop it."""
    listed = ip("netns", "pids", name, check=False).stdout.split()
    for pid in (int(p) for p in listed if p.isdigit()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ip("netns", "del", name, check=False)


def remove_stale() -> list[str]:
    """Remove the namespaces left by earlier runs that died; their names."""
    listing = ip("netns", "list", check=False).stdout
    stale = []
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        found = OWNER.match(name)
        if found and int(found.group(1)) != os.getpid() and not owner_alive(int(found.group(1))):
            remove_namespace(name)
            stale.append(name)
    return stale


class Bed:
    """The namespaces, the bridge and the veth pairs; `build()` makes them, `destroy()` undoes."""

    def __init__(self, hosts: int = 3) -> None:
        base = f"{PREFIX}{os.getpid()}"
        self.bridge_netns = f"{base}-br"
        self.hosts = [
            Machine(f"h{i}", f"{base}-h{i}", f"{SUBNET}.{10 + i}") for i in range(1, hosts + 1)
        ]
        self.balancer = Machine("lb", f"{base}-lb", f"{SUBNET}.2")
        self.client = Machine("client", f"{base}-client", f"{SUBNET}.3")
        self.built = False

    @property
    def machines(self) -> list[Machine]:
        return [self.balancer, self.client, *self.hosts]

    def build(self) -> None:
        """Make every namespace and link; a failure halfway leaves what `destroy()` removes."""
        self.built = True
        ip("netns", "add", self.bridge_netns)
        ip("-n", self.bridge_netns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.bridge_netns, "link", "set", "dev", "br0", "up")
        for machine in self.machines:
            ip("netns", "add", machine.netns)
            ip("-n", machine.netns, "link", "set", "dev", "lo", "up")
            ip("link", "add", "name", machine.port_name, "netns", self.bridge_netns, "type",
               "veth", "peer", "name", "eth0", "netns", machine.netns)  # fmt: skip
            ip("-n", self.bridge_netns, "link", "set", "dev", machine.port_name, "master", "br0")
            ip("-n", self.bridge_netns, "link", "set", "dev", machine.port_name, "up")
            ip("-n", machine.netns, "addr", "add", f"{machine.address}/24", "dev", "eth0")
            ip("-n", machine.netns, "link", "set", "dev", "eth0", "up")

    def destroy(self) -> None:
        """Remove the namespaces (veths go with them); safe to call twice or after a failure."""
        if not self.built:
            return
        for name in [m.netns for m in self.machines] + [self.bridge_netns]:
            remove_namespace(name)
        self.built = False

    def set_link(self, machine: Machine, up: bool) -> None:
        """Cut (or restore) `machine`'s only link, at its bridge port."""
        state = "up" if up else "down"
        ip("-n", self.bridge_netns, "link", "set", "dev", machine.port_name, state)

    def exec_argv(self, machine: Machine, argv: Sequence[str]) -> list[str]:
        """The command line running `argv` inside `machine` (`ip netns exec` execs it: the
        PID Popen returns is the program's own)."""
        return ["ip", "netns", "exec", machine.netns, *argv]


_libc = ctypes.CDLL(None, use_errno=True)


def enter(netns: str) -> None:
    """Move the calling thread (only it) into network namespace `netns`."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(netns: str, function: Callable[[], _T], timeout: float = 30.0) -> _T:
    """`function()` called on a thread inside `netns`; its value or its exception."""
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            enter(netns)
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    thread = threading.Thread(target=body, name=f"in-{netns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{function!r} in {netns} still runs after {timeout} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def tcp_active_opens(netns: str) -> int:
    """How many TCP connections namespace `netns` has opened so far (its Tcp ActiveOpens):
    a balancer that keeps its upstream connections alive opens few."""

    def read() -> int:
        with open("/proc/thread-self/net/snmp") as f:  # this thread's namespace, not the process's
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(dict(zip(rows[0], rows[1], strict=True))["ActiveOpens"])

    return run_in(netns, read)
