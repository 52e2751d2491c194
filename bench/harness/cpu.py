"""Where the CPU time of a phase went (Linux /proc): per process of interest and for the machine.

A snapshot before and one after a phase; the difference per class of process (a process that
exited in between is missed). Elsewhere than Linux the figures are empty."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# class of a process from (pid, parent pid, command name), or None to leave it out
Classify = Callable[[int, int, str], str | None]


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds of the whole machine since boot (/proc/stat)."""

    total: float = 0.0
    idle: float = 0.0  # idle and I/O wait
    stolen: float = 0.0  # given by a hypervisor to other guests

    @property
    def busy(self) -> float:
        return self.total - self.idle

    @property
    def busy_not_stolen(self) -> float:
        return self.total - self.idle - self.stolen


def machine_cpu() -> MachineCpu:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return MachineCpu()
    fields += [0] * (8 - len(fields))
    return MachineCpu(sum(fields) / TICK, (fields[3] + fields[4]) / TICK, fields[7] / TICK)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class CpuSnapshot:
    processes: dict[int, tuple[str, float]]  # pid -> (class, CPU seconds so far)
    machine: MachineCpu


def cpu_snapshot(classify: Classify) -> CpuSnapshot:
    """CPU seconds (user + system) so far of every process `classify` gives a class."""
    processes: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        pid = int(entry)
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cls = classify(pid, int(fields[1]), comm)
        if cls is not None:
            processes[pid] = (cls, (int(fields[11]) + int(fields[12])) / TICK)
    return CpuSnapshot(processes, machine_cpu())


def cpu_delta(
    before: CpuSnapshot, after: CpuSnapshot, classes: tuple[str, ...], elsewhere: str | None = None
) -> dict[str, float]:
    """Seconds per class between two snapshots, plus `_busy` and `_total` of the machine; with
    `elsewhere`, what the machine was busy with beyond the classes goes there."""
    used = dict.fromkeys(classes, 0.0)
    for pid, (cls, seconds) in after.processes.items():
        used[cls] += seconds - before.processes.get(pid, (cls, 0.0))[1]
    used["_busy"] = after.machine.busy - before.machine.busy
    used["_total"] = after.machine.total - before.machine.total
    if elsewhere is not None:
        used[elsewhere] = max(0.0, used["_busy"] - sum(used[c] for c in classes))
    return used


def worker_classifier(worker_pid: int, others: dict[str, int | None] | None = None) -> Classify:
    """The classes the effects benches share: the worker's main process and its pool, PostgreSQL,
    Redis and the bench itself, plus processes of the bench's own by pid (class → pid)."""
    me = os.getpid()
    by_pid = {pid: name for name, pid in (others or {}).items() if pid is not None}

    def classify(pid: int, ppid: int, comm: str) -> str | None:
        if pid == worker_pid:
            return "worker main"
        if ppid == worker_pid:
            return "worker pool"
        if pid in by_pid:
            return by_pid[pid]
        if comm == "postgres":
            return "postgres"
        if comm.startswith("redis-server"):
            return "redis"
        return "bench process" if pid == me else None

    return classify
