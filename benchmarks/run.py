"""
Runs the benchmark matrix and writes C{benchmarks/RESULTS.md}.

Bare Twisted, the reference (courier-pythonfilter 3.0.6) and pyfilter run
side by side in one run, on the same fixtures and the same interpreter
(Debian's C{/usr/bin/python3}).  Every cell (system, fixture, concurrency)
gets a freshly started daemon, an unrecorded warm-up and C{runs} recorded
runs; the table gives medians.  A separate memory run samples pyfilter's RSS
after 1k, 10k, 50k and 100k messages.

    /usr/bin/python3 benchmarks/run.py [--quick] [--pyfilter-venv DIR]
    /usr/bin/python3 benchmarks/run.py --report benchmarks/work/results.json

To compare another filter, add one L{System} to L{SYSTEMS}.
"""

import argparse
import fcntl
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))

from benchmarks import environments, fixtures, report  # noqa: E402
from benchmarks.courierroot import CourierRoot  # noqa: E402
from benchmarks.daemon import DaemonError  # noqa: E402
from benchmarks.servers import (  # noqa: E402
    BENCHMARKS, BareTwisted, Pyfilter, Reference, interpreterVersion)


@dataclass(frozen=True)
class System:
    """
    One row group of the table: a chain run by each of C{servers}.

    @ivar chain: the chain file's text (pythonfilter.conf format).
    @ivar modules: the modules configuration's text
        (pythonfilter-modules.conf format).
    @ivar fixtures: fixture kinds to measure.
    @ivar servers: which servers run it.
    @ivar concurrencies: client counts of every cell.
    @ivar extraCells: further (server, fixture, concurrency) cells.
    @ivar environment: the services it needs (L{environments}); its
        placeholders are filled into C{modules} per cell.
    @ivar pyfilterArgs: pyfilter's extra arguments (set per cell from the
        environment).
    """
    name: str
    chain: str
    modules: str = ""
    fixtures: tuple = fixtures.KINDS
    servers: tuple = ("reference", "pyfilter")
    concurrencies: tuple = (1, 64)
    extraCells: tuple = (("pyfilter", "small", 32),)
    environment: environments.Environment = environments.Environment()
    pyfilterArgs: tuple = ()

    @property
    def loopback(self):
        return isinstance(self.environment, environments.LoopbackDNS)


#: The state filters (issue 5): greylist_time 0 so that every triplet
#: passes once seen (the warm-up's first messages get 451); a rate limit
#: that is never reached within a long interval.
GREYLIST = "[greylist.py]\ngreylist_time = 0\n{ttldb}"
RATELIMIT = ("[ratelimit.py]\nmax_connections = 100000000\n"
             "interval = 1440\n{ttldb}")
STATE = dict(fixtures=("small",), concurrencies=(1, 64), extraCells=())
#: The service filters (issue 6), against one clamd and one spamd.
CLAMAV = ("[clamav.py]\nlocal_socket = {clamdSocket}\n"
          "max_connections = 16\n")
SERVICE = dict(concurrencies=(1, 16), extraCells=())
#: rspamd (issue 17): pyfilter alone, the body streamed or handed over by
#: path (rspamd's File header; its user must be able to read the fixtures).
RSPAMD = "[rspamd.py]\nurl = {rspamdUrl}\nhand_over = '%s'\n"
RSPAMD_SERVICE = dict(SERVICE, fixtures=("small", "100k"),
                      servers=("pyfilter",),
                      environment=environments.Rspamd())
#: The DNS filters (issue 8), in the loopback namespace; the dialback
#: target is tests.smtpserver on 127.0.0.1:25.
DNSWL = "[whitelist_dnswl.py]\ndnswl_zone = ['dnswl.example']\n"
DNS_TIMEOUTS = ("[whitelist_dnswl.py]\ndnswl_zone = ['dnswl.example']\n"
                "dns_timeout = 2\n[spfcheck.py]\ndns_timeout = 2\n"
                "query_timeout = 2\n[dialback.py]\ndns_timeout = 2\n"
                "deadline = 2\n{ttldb}")
DNS = dict(fixtures=("small",), concurrencies=(1, 64), extraCells=(),
           environment=environments.LoopbackDNS())
SILENT_DNS = dict(fixtures=("small",), concurrencies=(64,), extraCells=(),
                  servers=("pyfilter",),
                  environment=environments.LoopbackDNS(silent=True))

BARE = System("bare Twisted", "", servers=("bare Twisted",), extraCells=())
SYSTEMS = (
    BARE,
    System("empty chain", ""),
    # What the decision line (which the reference does not write) costs.
    System("empty chain, no decision line", "",
           "[pyfilter]\ndecision_log = 'off'\n", fixtures=("small",),
           servers=("pyfilter",), extraCells=()),
    System("attachments", "attachments\n"),
    System("attachments + deliveredto", "attachments\ndeliveredto\n"),
    System("noduplicates", "noduplicates\n"),
    System("whitelist_relayclients", "whitelist_relayclients\n"),
    System("greylist (embedded)", "greylist\n", GREYLIST,
           environment=environments.Embedded(), **STATE),
    System("ratelimit (embedded)", "ratelimit\n", RATELIMIT,
           environment=environments.Embedded(), **STATE),
    System("greylist (PostgreSQL)", "greylist\n", GREYLIST,
           environment=environments.Postgres(), **STATE),
    System("ratelimit (PostgreSQL)", "ratelimit\n", RATELIMIT,
           environment=environments.Postgres(), **STATE),
    System("clamav", "clamav\n", CLAMAV, fixtures=("100k", "5m"),
           environment=environments.Clamd(), **SERVICE),
    System("clamav (scan_mode path)", "clamav\n",
           CLAMAV + "scan_mode = 'path'\n", fixtures=("100k", "5m"),
           servers=("pyfilter",), environment=environments.Clamd(),
           **SERVICE),
    System("clamav (scan_mode fildes)", "clamav\n",
           CLAMAV + "scan_mode = 'fildes'\n", fixtures=("100k", "5m"),
           servers=("pyfilter",), environment=environments.Clamd(),
           **SERVICE),
    System("spamassassin", "spamassassin\n", fixtures=("small", "100k"),
           environment=environments.Spamd(), **SERVICE),
    System("rspamd (stream)", "rspamd\n", RSPAMD % "stream",
           **RSPAMD_SERVICE),
    System("rspamd (File)", "rspamd\n", RSPAMD % "file", **RSPAMD_SERVICE),
    System("whitelist_dnswl", "whitelist_dnswl\n", DNSWL, **DNS),
    System("spfcheck", "spfcheck\n", **DNS),
    System("dialback", "dialback\n", "{ttldb}", **DNS),
    System("whitelist_dnswl (silent DNS)", "whitelist_dnswl\n",
           DNS_TIMEOUTS, **SILENT_DNS),
    System("spfcheck (silent DNS)", "spfcheck\n", DNS_TIMEOUTS,
           **SILENT_DNS),
    System("dialback (silent DNS)", "dialback\n", DNS_TIMEOUTS,
           **SILENT_DNS),
)

#: The memory run: pyfilter's chain and the message counts RSS is read at.
MEMORY_SYSTEM = SYSTEMS[2]
MEMORY_CHECKPOINTS = (1000, 10000, 50000, 100000)
MEMORY_CONCURRENCY = 64


@dataclass(frozen=True)
class Mode:
    warmup: float
    runs: int
    duration: float
    minMessagesLarge: int
    quietWaitPerCell: float
    quietWaitTotal: float
    memoryCheckpoints: tuple = MEMORY_CHECKPOINTS


FULL = Mode(warmup=1.0, runs=3, duration=5.0, minMessagesLarge=60,
            quietWaitPerCell=10.0, quietWaitTotal=240.0)
QUICK = Mode(warmup=0.5, runs=1, duration=3.0, minMessagesLarge=20,
             quietWaitPerCell=0.0, quietWaitTotal=0.0,
             memoryCheckpoints=(1000, 5000, 10000))


@dataclass
class Cell:
    system: str
    server: str
    fixture: str
    concurrency: int
    status: str = "ok"
    reason: str = ""
    startupMs: float = None
    foreignCores: float = None
    quietWaitSeconds: float = 0.0
    attempts: list = None
    runs: list = field(default_factory=list)
    store: dict = None


def cellsOf(system):
    for server in system.servers:
        for fixture in system.fixtures:
            for concurrency in system.concurrencies:
                yield server, fixture, concurrency
    for server, fixture, concurrency in system.extraCells:
        if server in system.servers:
            yield server, fixture, concurrency


def loadgen(daemon, requests, concurrency, mode, fixture, count=None,
            runs=None, warmup=None):
    argv = [sys.executable, os.path.join(BENCHMARKS, "loadgen.py"),
            "--socket", daemon.socketPath,
            "--concurrency", str(concurrency),
            "--warmup", str(mode.warmup if warmup is None else warmup),
            "--runs", str(mode.runs if runs is None else runs),
            "--duration", str(mode.duration),
            "--min-messages",
            str(mode.minMessagesLarge if fixture == "5m" else 0),
            "--pid", str(daemon.pid)]
    if count is not None:
        argv += ["--count", str(count)]
    for dataPath, controlPath in requests:
        argv += ["--request", dataPath, controlPath]
    result = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def machineBusySeconds():
    """
    CPU time all processes on the machine used since boot.
    """
    with open("/proc/stat") as f:
        user, nice, system, _, _, irq, softirq, steal = map(
            int, f.readline().split()[1:9])
    return ((user + nice + system + irq + softirq + steal)
            / os.sysconf("SC_CLK_TCK"))


def ownBusySeconds(environment):
    """
    CPU time of this process and its reaped children (daemons, loadgen),
    and of C{environment}'s services.
    """
    return sum(usage.ru_utime + usage.ru_stime for usage in (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN))
    ) + environment.busySeconds()


def usageSnapshot(environment):
    return (time.monotonic(), machineBusySeconds(),
            ownBusySeconds(environment))


def foreignCoresSince(snapshot, environment):
    """
    Cores that processes other than ours kept busy since C{snapshot}.
    """
    wall, busy, own = (after - before for after, before in zip(
        usageSnapshot(environment), snapshot))
    return max(0.0, busy - own) / wall


class QuietWait:
    """
    Before a cell, waits (within a per-cell and a total budget) until other
    processes leave the cores nearly idle.
    """
    threshold = 0.25
    sample = 0.5

    def __init__(self, perCell, total):
        self.perCell = perCell
        self.left = total

    def __call__(self, environment):
        began = time.monotonic()
        limit = min(self.perCell, self.left)
        while time.monotonic() - began < limit:
            snapshot = usageSnapshot(environment)
            time.sleep(self.sample)
            if foreignCoresSince(snapshot, environment) <= self.threshold:
                break
        waited = time.monotonic() - began
        self.left = max(0.0, self.left - waited)
        return waited


def runCell(server, system, fixture, concurrency, requests, mode, logDir,
            quietWait):
    """
    Measure one cell and note how much CPU other processes took meanwhile.
    """
    cell = Cell(system.name, server.name, fixture, concurrency)
    environment = system.environment
    reason = server.unavailable(system) or environment.unavailable()
    if reason:
        cell.status, cell.reason = "n/a", reason
        return cell
    cell.quietWaitSeconds = quietWait(environment)
    # Write back what earlier cells left dirty (the reference's dbm files,
    # pyfilter's SQLite), so that no cell pays for another's disk writes.
    os.sync()
    system = replace(system, pyfilterArgs=environment.pyfilterArgs,
                     modules=system.modules.format(
                         **environment.values(server.name)))
    snapshot = usageSnapshot(environment)
    _measureCell(cell, server, system, requests, mode, logDir)
    cell.foreignCores = foreignCoresSince(snapshot, environment)
    cell.store = environment.afterCell(server.name, server, cell)
    return cell


def _measureCell(cell, server, system, requests, mode, logDir):
    fixture, concurrency = cell.fixture, cell.concurrency
    try:
        daemon = server.start(system)
    except DaemonError as e:
        cell.status, cell.reason = "failed", f"start: {e}"
        return
    cell.startupMs = daemon.startupMs
    try:
        cell.runs = loadgen(daemon, requests, concurrency, mode, fixture)
    except subprocess.CalledProcessError as e:
        cell.status, cell.reason = "failed", f"loadgen: {e.stderr[-500:]}"
    finally:
        stoppedCleanly = daemon.stop()
    if not stoppedCleanly:
        cell.reason += " (did not exit when stdin closed; killed)"
    if any(run["errors"] for run in cell.runs) or cell.status != "ok":
        keep = os.path.join(logDir, "failed-" + "-".join(
            str(p) for p in (server.name, system.name, fixture, concurrency)
        ).replace(" ", "_").replace("+", "and") + ".log")
        os.replace(daemon.logPath, keep)


def memoryRun(server, requests, mode):
    """
    pyfilter's RSS after each of C{mode.memoryCheckpoints} messages.
    """
    if server.unavailable(MEMORY_SYSTEM):
        return {"status": "n/a"}
    daemon = server.start(MEMORY_SYSTEM)
    samples, sent = [], 0
    try:
        for checkpoint in mode.memoryCheckpoints:
            run, = loadgen(daemon, requests, MEMORY_CONCURRENCY, mode, "small",
                           count=checkpoint - sent, runs=1, warmup=0)
            sent = checkpoint
            samples.append({"messages": checkpoint, "rssMiB": run["rssMiB"],
                            "hwmMiB": run["hwmMiB"], "errors": run["errors"],
                            "replies": run["replies"]})
    finally:
        daemon.stop()
    return {"status": "ok", "system": MEMORY_SYSTEM.name,
            "concurrency": MEMORY_CONCURRENCY, "samples": samples}


def machine():
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f
                  if line.startswith("model name")]
    with open("/proc/meminfo") as f:
        memKiB = int(f.readline().split()[1])
    release = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            release = "Debian " + f.read().strip()
    return {"cpu": models[0] if models else platform.processor(),
            "cores": os.cpu_count(), "memoryGiB": round(memKiB / 2**20, 1),
            "os": release or platform.platform(),
            "kernel": platform.release(),
            "loadAverageBefore": os.getloadavg()}


def measureSystems(systems, servers, requests, mode, logDir, work):
    """
    Every cell of C{systems}, each system with its services running; noisy
    cells measured once more at the end.

    @return: C{[(system, cell)]}
    """
    quietWait = QuietWait(mode.quietWaitPerCell, mode.quietWaitTotal)
    measured = []

    def measure(system, serverName, fixture, concurrency):
        # Every cell starts from the fixtures as generated (an earlier
        # cell's filter may have rewritten them).
        fixtures.buildFixtures(work, kinds=(fixture,))
        return runCell(servers[serverName], system, fixture, concurrency,
                       requests[fixture], mode, logDir, quietWait)

    for system in systems:
        system.environment.start(work)
        try:
            for serverName, fixture, concurrency in cellsOf(system):
                cell = measure(system, serverName, fixture, concurrency)
                measured.append((system, cell))
                print(report.cellLine(cell), flush=True)
        finally:
            system.environment.stop()
    for system in systems:
        noisy = [(position, cell) for position, (owner, cell)
                 in enumerate(measured) if owner is system
                 and (cell.foreignCores or 0) > report.NOISE_CORES]
        if not noisy:
            continue
        system.environment.start(work)
        try:
            for position, cell in noisy:
                retry = measure(system, cell.server, cell.fixture,
                                cell.concurrency)
                print("re-measured (noisy):", report.cellLine(retry),
                      flush=True)
                quieter = min((cell, retry), key=lambda c: c.foreignCores or 0)
                quieter.attempts = [c.foreignCores for c in (cell, retry)]
                measured[position] = (system, quieter)
        finally:
            system.environment.stop()
    return measured


def merge(saved, results, systems):
    """
    The saved results with the cells of C{systems} replaced by (or added
    from) C{results}; the addition is noted in C{saved["additions"]}.
    """
    names = {system.name for system in systems}
    saved["cells"] = ([c for c in saved["cells"] if c["system"] not in names]
                      + results["cells"])
    if "memory" in results:
        saved["memory"] = results["memory"]
    for earlier in saved.get("additions", ()):
        earlier["systems"] = [n for n in earlier["systems"] if n not in names]
    saved["additions"] = [a for a in saved.get("additions", ())
                          if a["systems"]]
    saved["additions"].append(
        {key: results[key] for key in ("date", "mode", "method", "minutes",
                                       "machine")}
        | {"systems": sorted(names)})
    return saved


def loopbackRunner(args, work, pyfilterVenv, referenceVenv, systems):
    """
    This runner again, for C{systems}, inside the loopback namespace.
    """
    argv = [sys.executable, os.path.abspath(__file__), "--no-install",
            "--work", work, "--pyfilter-venv", pyfilterVenv,
            "--reference-venv", referenceVenv, "--output",
            os.path.abspath(args.output)]
    if args.quick:
        argv.append("--quick")
    for system in systems:
        argv += ["--only", system.name]
    subprocess.run(environments.namespaceCommand(argv), check=True,
                   env=dict(os.environ,
                            **{environments.NAMESPACE_MARKER: "1"}))


#: Where the report goes unless C{--output} says otherwise.
DEFAULT_OUTPUT = os.path.join(BENCHMARKS, "RESULTS.md")

#: The open file holding the work directory's lock (see L{lockWork}).
_workLock = None


def lockWork(work):
    """
    Refuse to run beside another runner on the same work directory (the
    daemons' sockets, state and logs are shared); the lock lasts as long as
    this process (the namespace runner it starts is covered by it).
    """
    global _workLock
    _workLock = open(os.path.join(work, "run.lock"), "w")
    try:
        fcntl.flock(_workLock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another runner is using {work}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one short run per cell (a smoke run)")
    parser.add_argument("--work", default=os.path.join(BENCHMARKS, "work"))
    parser.add_argument("--pyfilter-venv")
    parser.add_argument("--reference-venv")
    parser.add_argument("--only", action="append", default=[],
                        help="run only systems whose name contains this, "
                        "merging them into the saved results")
    parser.add_argument("--no-install", action="store_true",
                        help="use the venvs as they are")
    parser.add_argument("--report", metavar="RESULTS_JSON",
                        help="only rewrite RESULTS.md from saved results")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            report.write(json.load(f), args.output)
        return

    work = os.path.abspath(args.work)
    saved = os.path.join(work, "results.json")
    if (args.only and not os.path.exists(saved)
            and os.environ.get(environments.NAMESPACE_MARKER) != "1"
            and os.path.abspath(args.output) == DEFAULT_OUTPUT):
        raise SystemExit(f"--only merges into {saved}, which does not exist "
                         f"(a fresh work directory): run the whole matrix "
                         f"first, or write elsewhere with --output")
    mode = QUICK if args.quick else FULL
    logDir = os.path.join(work, "logs")
    os.makedirs(logDir, exist_ok=True)
    insideNamespace = os.environ.get(environments.NAMESPACE_MARKER) == "1"
    if insideNamespace:
        environments.enterLoopbackNamespace(work)
    else:
        lockWork(work)
    root = CourierRoot(work)
    root.build()
    pyfilterVenv = args.pyfilter_venv or os.path.join(work, "venv-pyfilter")
    referenceVenv = args.reference_venv or os.path.join(work,
                                                        "venv-reference")
    reference = Reference(root, logDir, referenceVenv)
    pyfilter = Pyfilter(root, logDir, pyfilterVenv)
    if not args.no_install:
        reference.install()
        pyfilter.install()
    servers = {s.name: s for s in (BareTwisted(root, logDir, pyfilterVenv),
                                   reference, pyfilter)}
    systems = [s for s in SYSTEMS
               if not args.only or any(o in s.name for o in args.only)]
    if not systems:
        raise SystemExit(f"no system matches {args.only}")
    loopback = [s for s in systems if s.loopback]
    if not insideNamespace:
        systems = [s for s in systems if not s.loopback]
    print("generating fixtures ...", flush=True)
    requests = fixtures.buildFixtures(work)

    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "method": asdict(mode),
        "machine": machine(),
        "interpreters": {"pyfilter": interpreterVersion(pyfilterVenv),
                         "reference": interpreterVersion(referenceVenv),
                         "loadgen": sys.version.split()[0]},
        "fixtureBytes": {kind: os.path.getsize(pairs[0][0])
                         for kind, pairs in requests.items()},
    }
    began = time.monotonic()
    measured = measureSystems(systems, servers, requests, mode, logDir, work)
    results["cells"] = [asdict(cell) for _, cell in measured]
    if not args.only or MEMORY_SYSTEM in systems:
        print("memory run ...", flush=True)
        results["memory"] = memoryRun(pyfilter, requests["small"], mode)
    results["minutes"] = round((time.monotonic() - began) / 60, 1)
    results["machine"]["loadAverageAfter"] = os.getloadavg()
    if args.only and os.path.exists(saved):
        with open(saved) as f:
            results = merge(json.load(f), results, systems)
    with open(saved, "w") as f:
        json.dump(results, f, indent=1)
    print(f"results: {saved}")
    if loopback and not insideNamespace:
        # It merges its cells into the saved results and writes the report.
        loopbackRunner(args, work, pyfilterVenv, referenceVenv, loopback)
        return
    report.write(results, args.output)
    print(f"report: {args.output}")


if __name__ == "__main__":
    main()
