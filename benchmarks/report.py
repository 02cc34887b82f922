"""
Writing C{RESULTS.md} from a benchmark run's results (see C{run.py}).

Per cell: msg/s is the median of the runs (min–max spread), p50/p99 are
medians of the per-run percentiles, CPU is the daemon's utime+stime per
message, RSS is read from C{/proc/PID/status} after the last run.
"""

import json
import os
import statistics

from benchmarks.fixtures import COPIES, KINDS, RECIPIENTS

FIXTURE_NAMES = {"small": "small 2 KB", "100k": "100 KB", "5m": "5 MB"}
NOISE_CORES = 0.25
#: The attachments filter's path figures (written by C{scanpaths.py}).
SCAN_PATHS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "scanpaths.json")
SCAN_PATHS_HEADING = ("## attachments: its own scan and the email "
                      "package's path")
#: The reload figures (written by C{reload.py}).
RELOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "reload.json")
RELOAD_HEADING = "## Reload cost"

#: (description, check) pairs; each check takes the cell index and yields
#: (label, value text, met) lines.
TARGETS = []


def target(description):
    def register(check):
        TARGETS.append((description, check))
        return check
    return register


def summarize(cell):
    """
    Medians of a cell's runs, or None if it has none.
    """
    runs = cell["runs"]
    if cell["status"] != "ok" or not runs:
        return None

    def median(key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    replies = {}
    for run in runs:
        for code, count in run["replies"].items():
            replies[code] = replies.get(code, 0) + count
    return {
        "rate": median("rate"),
        "rateMin": min(r["rate"] for r in runs),
        "rateMax": max(r["rate"] for r in runs),
        "p50": median("p50ms"), "p99": median("p99ms"),
        "cpu": median("cpuMsPerMessage"),
        "rss": runs[-1].get("rssMiB"),
        "hwm": max((r.get("hwmMiB") or 0) for r in runs) or None,
        "errors": sum(r["errors"] for r in runs),
        "messages": sum(r["messages"] for r in runs),
        "replies": replies,
        "foreignCores": cell.get("foreignCores"),
    }


def index(results):
    return {(c["system"], c["server"], c["fixture"], c["concurrency"]): c
            for c in results["cells"]}


def number(value, digits=None):
    if value is None:
        return "–"
    if digits is None:
        digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f}"


def rateText(summary):
    if summary is None:
        return "–"
    return (f"{number(summary['rate'])} ({number(summary['rateMin'])}–"
            f"{number(summary['rateMax'])})")


def latencyText(summary):
    if summary is None:
        return "–"
    return f"{number(summary['p50'])} / {number(summary['p99'])}"


def cellLine(cell):
    """
    One progress line for a finished cell (a L{run.Cell}).
    """
    head = f"{cell.server:13} {cell.system:27} {cell.fixture:5} c={cell.concurrency:<3}"
    if cell.status != "ok":
        return f"{head} {cell.status}: {cell.reason}"
    summary = summarize({"runs": cell.runs, "status": cell.status})
    return (f"{head} {rateText(summary)} msg/s, p50/p99 {latencyText(summary)}"
            f" ms, errors {summary['errors']}, replies {summary['replies']}")


def _summaryAt(cells, system, server, fixture, concurrency):
    cell = cells.get((system, server, fixture, concurrency))
    return None if cell is None else summarize(cell)


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or not denominator["rate"]:
        return None
    return numerator["rate"] / denominator["rate"]


def _statusText(cell):
    if cell is None:
        return "not run"
    if cell["status"] == "n/a":
        return f"n/a ({cell['reason']})"
    return f"{cell['status']}: {cell['reason']}"


def mainTable(results, cells):
    rows = ["| system | server | fixture | c=1 msg/s (min–max) "
            "| c=1 p50 / p99 ms | c=64 msg/s (min–max) | c=64 p50 / p99 ms "
            "| CPU ms/msg (c=64) | RSS MiB after c=64 (peak) | replies |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    seen = []
    for c in results["cells"]:
        key = (c["system"], c["server"], c["fixture"])
        if key not in seen and c["concurrency"] in (1, 64):
            seen.append(key)
    for system, server, fixture in seen:
        one = cells.get((system, server, fixture, 1))
        many = cells.get((system, server, fixture, 64))
        s1 = summarize(one) if one else None
        s64 = summarize(many) if many else None
        if s1 is None and s64 is None:
            rows.append(f"| {system} | {server} | {FIXTURE_NAMES[fixture]} | "
                        f"{_statusText(many or one)} | | | | | | |")
            continue
        replies = {}
        errors = 0
        for s in (s1, s64):
            if s:
                errors += s["errors"]
                for code, count in s["replies"].items():
                    replies[code] = replies.get(code, 0) + count
        replyText = ", ".join(f"{code} × {count}"
                              for code, count in sorted(replies.items()))
        if errors:
            replyText += f"; **{errors} errors**"
        memory = "–"
        if s64 and s64["rss"] is not None:
            memory = f"{number(s64['rss'], 1)} ({number(s64['hwm'], 1)})"
        rows.append(
            f"| {system} | {server} | {FIXTURE_NAMES[fixture]} "
            f"| {rateText(s1)} | {latencyText(s1)} | {rateText(s64)} "
            f"| {latencyText(s64)} | {number(s64 and s64['cpu'], 3)} "
            f"| {memory} | {replyText} |")
    return rows


def ratioTable(results, cells):
    rows = ["| system | fixture | pyfilter / reference c=1 "
            "| pyfilter / reference c=64 | pyfilter / bare Twisted c=1 "
            "| pyfilter / bare Twisted c=64 |",
            "|---|---|---:|---:|---:|---:|"]
    systems = []
    for c in results["cells"]:
        if c["server"] == "pyfilter" and c["system"] not in systems:
            systems.append(c["system"])
    for system in systems:
        for fixture in KINDS:
            values = []
            for other, otherSystem in (("reference", system),
                                       ("bare Twisted", "bare Twisted")):
                for concurrency in (1, 64):
                    mine = _summaryAt(cells, system, "pyfilter", fixture,
                                      concurrency)
                    theirs = _summaryAt(cells, otherSystem, other, fixture,
                                        concurrency)
                    ratio = _ratio(mine, theirs)
                    values.append("–" if ratio is None else
                                  f"{number(ratio, 2)}×")
            if set(values) != {"–"}:
                rows.append(f"| {system} | {FIXTURE_NAMES[fixture]} | "
                            + " | ".join(values) + " |")
    return rows


def extraTable(results, cells):
    rows = ["| system | server | fixture | concurrency | msg/s (min–max) "
            "| p50 / p99 ms | pyfilter / reference | RSS MiB after (peak) "
            "| replies |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for c in results["cells"]:
        if c["concurrency"] in (1, 64):
            continue
        s = summarize(c)
        if s is None:
            rows.append(f"| {c['system']} | {c['server']} | "
                        f"{FIXTURE_NAMES[c['fixture']]} | {c['concurrency']} "
                        f"| {_statusText(c)} | | | | |")
            continue
        replies = ", ".join(f"{k} × {v}" for k, v in sorted(
            s["replies"].items()))
        if s["errors"]:
            replies += f"; **{s['errors']} errors**"
        ratio = None
        if c["server"] == "pyfilter":
            ratio = _ratio(s, _summaryAt(cells, c["system"], "reference",
                                         c["fixture"], c["concurrency"]))
        memory = "–" if s["rss"] is None else (
            f"{number(s['rss'], 1)} ({number(s['hwm'], 1)})")
        rows.append(f"| {c['system']} | {c['server']} | "
                    f"{FIXTURE_NAMES[c['fixture']]} | {c['concurrency']} | "
                    f"{rateText(s)} | {latencyText(s)} | "
                    f"{'–' if ratio is None else number(ratio, 2) + '×'} | "
                    f"{memory} | {replies} |")
    return rows


def serviceCpuTable(results):
    """
    For the cells whose service reports its own CPU (rspamd): pyfilter's
    CPU per message beside the service's, so that the bridge's cost and
    the service's are apart.
    """
    rows = ["| system | fixture | concurrency | msg/s | pyfilter CPU ms/msg "
            "| rspamd CPU ms/msg |", "|---|---|---:|---:|---:|---:|"]
    for c in results["cells"]:
        service = (c.get("store") or {}).get("rspamdCpuMsPerMessage")
        s = summarize(c)
        if service is None or s is None:
            continue
        rows.append(f"| {c['system']} | {FIXTURE_NAMES[c['fixture']]} | "
                    f"{c['concurrency']} | {rateText(s)} | "
                    f"{number(s['cpu'], 3)} | {number(service, 3)} |")
    return rows if len(rows) > 2 else ["No cell measured a service's CPU."]


def startupTable(results):
    byServer = {}
    for c in results["cells"]:
        if c.get("startupMs") is not None:
            byServer.setdefault((c["server"], c["system"]), []).append(
                c["startupMs"])
    rows = ["| server | system | median ms | range ms | starts |",
            "|---|---|---:|---:|---:|"]
    for (server, system), values in byServer.items():
        rows.append(f"| {server} | {system} | "
                    f"{number(statistics.median(values), 0)} | "
                    f"{number(min(values), 0)}–{number(max(values), 0)} | "
                    f"{len(values)} |")
    return rows


def memoryTable(memory):
    if memory.get("status") != "ok":
        return [f"Not run ({memory.get('status')})."]
    samples = memory["samples"]
    base = samples[0]["rssMiB"]
    rows = [f"pyfilter, chain `{memory['system']}`, small messages, "
            f"c={memory['concurrency']}, one daemon:", "",
            "| after messages | RSS MiB | vs first sample | peak (VmHWM) MiB "
            "| errors |", "|---:|---:|---:|---:|---:|"]
    for s in samples:
        rows.append(f"| {s['messages']:,} | {number(s['rssMiB'], 1)} | "
                    f"{(s['rssMiB'] - base) / base * 100:+.1f} % | "
                    f"{number(s['hwmMiB'], 1)} | {s['errors']} |")
    return rows


def _metText(met):
    return "**met**" if met else "**not met**"


@target("pyfilter's empty chain ≥ 75 % of bare Twisted (msg/s)")
def emptyChainTarget(cells):
    for concurrency in (1, 64):
        ratios = [(fixture, *_compare(
            _summaryAt(cells, "empty chain", "pyfilter", fixture, concurrency),
            _summaryAt(cells, "bare Twisted", "bare Twisted", fixture,
                       concurrency))) for fixture in KINDS]
        yield _ratioLine(f"c={concurrency}", ratios, 0.75, percent=True)


@target("every system ≥ 1.2× the reference at concurrency 1 (issue 14)")
def concurrencyOneTarget(cells):
    systems = dict.fromkeys(
        system for system, server, _, concurrency in cells
        if server == "reference" and concurrency == 1)
    for system in systems:
        yield _ratioLine(system, [(fixture, *_compare(
            _summaryAt(cells, system, "pyfilter", fixture, 1),
            _summaryAt(cells, system, "reference", fixture, 1)))
            for fixture in KINDS
            if (system, "reference", fixture, 1) in cells], 1.2)


@target("attachments ≥ 10× the reference at 100 KB")
def attachments100kTarget(cells):
    yield from _referenceRatioLines(cells, "100k", 10)


@target("attachments ≥ 100× the reference at 5 MB")
def attachments5mTarget(cells):
    yield from _referenceRatioLines(cells, "5m", 100)


@target("p99 ≤ 15 ms for small messages at concurrency 32 (pyfilter)")
def p99Target(cells):
    for (system, server, fixture, concurrency), cell in cells.items():
        if (server, fixture, concurrency) != ("pyfilter", "small", 32):
            continue
        s = summarize(cell)
        if s is None:
            yield system, _statusText(cell), None
        else:
            yield system, f"p99 {number(s['p99'])} ms", s["p99"] <= 15


def referenceRatioTarget(description, system, fixture, concurrency,
                         factor):
    """
    Register "C{system} ≥ C{factor}× the reference" at one cell.
    """
    def check(cells):
        yield _ratioLine(f"c={concurrency}", [(fixture, *_compare(
            _summaryAt(cells, system, "pyfilter", fixture, concurrency),
            _summaryAt(cells, system, "reference", fixture, concurrency)))],
            factor)
    target(description)(check)


#: What the reference's filter really keeps its state in.
_REFERENCE_STATE = {"greylist": "same store",
                    "ratelimit": "the reference counts in memory whatever "
                                 "the store"}
for _store, _factor in (("embedded", 3), ("PostgreSQL", 2)):
    for _filter in ("greylist", "ratelimit"):
        referenceRatioTarget(
            f"{_filter} ({_store}) ≥ {_factor}× the reference "
            f"({_REFERENCE_STATE[_filter]})",
            f"{_filter} ({_store})", "small", 64, _factor)
for _filter in ("whitelist_dnswl", "spfcheck", "dialback"):
    referenceRatioTarget(f"{_filter} ≥ 5× the reference, same loopback DNS",
                         _filter, "small", 64, 5)


@target("no lost updates: the store's rows match the messages (pyfilter)")
def storeTarget(cells):
    for (system, server, fixture, concurrency), cell in cells.items():
        counts = cell.get("store")
        if not counts:
            continue
        label = f"{system} c={concurrency}"
        if system.startswith("ratelimit"):
            yield (label, f"rate counters sum {counts['ratelimitSum']:,}, "
                   f"messages answered {counts['received']:,}",
                   counts["ratelimitSum"] == counts["received"])
        elif system.startswith("greylist"):
            expected = COPIES * len(RECIPIENTS)
            yield (label, f"{counts['greylistPassed']} passed triplets of "
                   f"{expected} distinct", counts["greylistPassed"] == expected)


#: (system, smaller fixture, larger fixture) whose peak RSS must not grow.
RSS_BY_SIZE = (("clamav", "100k", "5m"),
               ("clamav (scan_mode path)", "100k", "5m"),
               ("spamassassin", "small", "100k"))


@target("pyfilter's RSS does not grow with message size (peak ≤ +10 %)")
def rssBySizeTarget(cells):
    for system, small, large in RSS_BY_SIZE:
        for concurrency in (1, 16):
            before = _summaryAt(cells, system, "pyfilter", small, concurrency)
            after = _summaryAt(cells, system, "pyfilter", large, concurrency)
            if before is None or after is None:
                continue
            growth = after["hwm"] / before["hwm"] - 1
            yield (f"{system} c={concurrency}",
                   f"peak {number(before['hwm'], 1)} MiB at "
                   f"{FIXTURE_NAMES[small]} → {number(after['hwm'], 1)} MiB "
                   f"at {FIXTURE_NAMES[large]} ({growth * 100:+.1f} %)",
                   growth <= 0.10)


#: The silent-DNS cells' configured bound (dns_timeout, query_timeout and
#: dialback's deadline are 2 s) and the allowance on top of it.
SILENT_DNS_BOUND_SECONDS = 2.0
SILENT_DNS_ALLOWANCE_SECONDS = 0.5


@target(f"p99 bounded by the {SILENT_DNS_BOUND_SECONDS:.0f} s timeout when "
        f"the DNS server stops answering (≤ "
        f"{SILENT_DNS_BOUND_SECONDS + SILENT_DNS_ALLOWANCE_SECONDS} s)")
def silentDnsTarget(cells):
    for (system, server, fixture, concurrency), cell in cells.items():
        if "(silent DNS)" not in system:
            continue
        s = summarize(cell)
        if s is None:
            yield f"{system} c={concurrency}", _statusText(cell), None
            continue
        replies = ", ".join(f"{k} × {v}" for k, v in sorted(
            s["replies"].items()))
        yield (f"{system} c={concurrency}",
               f"p50 {number(s['p50'])} ms, p99 {number(s['p99'])} ms "
               f"({replies})", s["p99"] <= 1000 * (
                   SILENT_DNS_BOUND_SECONDS + SILENT_DNS_ALLOWANCE_SECONDS))


def _referenceRatioLines(cells, fixture, factor):
    for concurrency in (1, 64):
        comparison = _compare(
            _summaryAt(cells, "attachments", "pyfilter", fixture, concurrency),
            _summaryAt(cells, "attachments", "reference", fixture,
                       concurrency))
        yield _ratioLine(f"c={concurrency}", [(fixture, *comparison)], factor)


def _compare(mine, theirs):
    """
    C{(ratio of msg/s, whether either cell was noisy)}.
    """
    noisy = any((s or {}).get("foreignCores") is not None
                and s["foreignCores"] > NOISE_CORES for s in (mine, theirs))
    return _ratio(mine, theirs), noisy


def _ratioLine(label, ratios, threshold, percent=False):
    texts = []
    for fixture, ratio, noisy in ratios:
        value = ("–" if ratio is None else f"{ratio * 100:.0f} %" if percent
                 else f"{ratio:.1f}×")
        texts.append(f"{FIXTURE_NAMES[fixture]} {value}"
                     + (" (noisy cell, see Noise)" if noisy else ""))
    known = [r for _, r, _ in ratios if r is not None]
    met = None if len(known) < len(ratios) else min(known) >= threshold
    return label, ", ".join(texts), met


def memoryTarget(memory):
    if memory.get("status") != "ok":
        return "not run", None
    samples = memory["samples"]
    base = samples[0]["rssMiB"]
    worst = max(abs(s["rssMiB"] - base) / base for s in samples)
    last = samples[-1]
    met = worst <= 0.10 if last["messages"] >= 100000 else None
    return (f"{samples[0]['messages']:,} → {last['messages']:,} messages: "
            f"{number(base, 1)} → {number(last['rssMiB'], 1)} MiB, largest "
            f"deviation {worst * 100:.1f} %"), met


def targetLines(results, cells):
    rows = ["| target | case | measured | verdict |", "|---|---|---|---|"]
    for description, check in TARGETS:
        for label, value, met in check(cells):
            verdict = "not measured" if met is None else _metText(met)
            rows.append(f"| {description} | {label} | {value} | {verdict} |")
    value, met = memoryTarget(results.get("memory", {}))
    rows.append(f"| RSS within ±10 % between 1k and 100k messages | "
                f"pyfilter attachments, small, c=64 | {value} | "
                f"{'not measured' if met is None else _metText(met)} |")
    return rows


def noiseLines(results):
    noisy = [c for c in results["cells"]
             if (c.get("foreignCores") or 0) > NOISE_CORES]
    retried = [c for c in results["cells"] if c.get("attempts")]
    machine = results["machine"]
    lines = [f"Load average before the run "
             f"{', '.join(f'{x:.2f}' for x in machine['loadAverageBefore'])},"
             f" after {', '.join(f'{x:.2f}' for x in machine.get('loadAverageAfter', ()))}."]
    if retried:
        lines.append(f"{len(retried)} cells were measured twice because "
                     "other processes were busy during the first "
                     "measurement; the quieter one is shown.")
    if noisy:
        lines.append(
            f"{len(noisy)} of {len(results['cells'])} cells saw other "
            f"processes (other engineers' test runs) use more than "
            f"{NOISE_CORES} of a core on average while they ran; their "
            "figures are noisier: " + "; ".join(
                f"{c['server']} {c['system']} {c['fixture']} "
                f"c={c['concurrency']} ({c['foreignCores']:.2f} cores)"
                for c in noisy) + ".")
    else:
        lines.append("No cell saw other processes use more than "
                     f"{NOISE_CORES} of a core on average.")
    return lines


def additionLines(results):
    """
    The rows measured later than the main run (C{run.py --only}).
    """
    lines = []
    for addition in results.get("additions", ()):
        method = addition["method"]
        lines.append(
            f"- Added {addition['date']} ({addition['mode']} mode: "
            f"{method['warmup']} s warm-up, {method['runs']} run(s) of "
            f"{method['duration']} s; {addition['minutes']} minutes), "
            f"load average before "
            f"{', '.join(f'{x:.2f}' for x in addition['machine']['loadAverageBefore'])}: "
            + ", ".join(addition["systems"]) + ".")
    if lines:
        lines = ["Rows measured later with `run.py --only` and merged into "
                 "these results (the other rows are from the run above):",
                 "", *lines, ""]
    return lines


def write(results, path):
    cells = index(results)
    method = results["method"]
    machine = results["machine"]
    sizes = ", ".join(f"{k} {v / 1024:.1f} KiB"
                      for k, v in results["fixtureBytes"].items())
    out = [
        "# pyfilter benchmark results", "",
        f"Run {results['date']} ({results['mode']} mode, "
        f"{results.get('minutes', '?')} minutes), written by "
        "`benchmarks/run.py`; see `benchmarks/README.md` for the method and "
        "how to re-run. Compare ratios within this one run, not absolute "
        "figures across machines.", "", *additionLines(results),
        "## Machine", "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; "
        f"{machine['memoryGiB']} GiB RAM; {machine['os']}, Linux "
        f"{machine['kernel']}.",
        f"- Interpreters: pyfilter and bare Twisted {results['interpreters']['pyfilter']}; "
        f"reference {results['interpreters']['reference']}; load generator "
        f"{results['interpreters']['loadgen']}.",
        "- The load generator and the daemon share the cores.", "",
        "## Method", "",
        f"- Fixtures (data file sizes): {sizes}; 8 distinct copies each, "
        "rotated. Every message runs the whole chain and is accepted.",
        f"- Every cell: the daemon started afresh as courierfilter does "
        f"(stdin pipe, fd 3 closed when ready), {method['warmup']} s "
        f"unrecorded warm-up, then {method['runs']} run(s) of "
        f"{method['duration']} s (5 MB cells: at least "
        f"{method['minMessagesLarge']} messages); a run's msg/s counts "
        "until its last reply. msg/s: median (min–max); p50/p99: medians "
        "of the runs' percentiles; CPU: the daemon's utime+stime per "
        "message; RSS: VmRSS after the last run (VmHWM peak).",
        "- Closed loop: each client sends its next message when its reply "
        "is complete; a new connection per message.",
        f"- Before a cell the runner waits up to "
        f"{method.get('quietWaitPerCell', 0)} s (at most "
        f"{method.get('quietWaitTotal', 0)} s in all) for other processes "
        "to leave the cores idle. A cell during which other processes used "
        f"more than {NOISE_CORES} of a core is measured once more at the "
        "end and the quieter of the two measurements is kept.", "",
        "## Targets", "", *targetLines(results, cells), "",
        "## Throughput and latency", "", *mainTable(results, cells), "",
        "## pyfilter relative to the reference and to bare Twisted", "",
        "msg/s ratios, same fixture and concurrency.", "",
        *ratioTable(results, cells), "",
        "## Other concurrencies", "", *extraTable(results, cells), "",
        "## rspamd: pyfilter's CPU and rspamd's", "",
        *serviceCpuTable(results), "",
        "## Memory", "", *memoryTable(results.get("memory", {})), "",
        "## Start-up (exec → fd 3 closed)", "", *startupTable(results), "",
        "## Noise", "", *noiseLines(results), "",
        *scanPathSection(), *reloadSection(),
    ]
    with open(path, "w") as f:
        f.write("\n".join(out))


def savedSection(path, render):
    """
    The lines C{render} makes of the figures saved at C{path} (by
    L{saveFigures}), none without them.
    """
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return render(json.load(f)) + [""]


def saveFigures(figures, path, output, heading, section):
    """
    Save C{figures} (measured by a script of its own) at C{path} and put
    their section, C{section()}, into the results file C{output} in place
    of the one under C{heading}.
    """
    with open(path, "w") as f:
        json.dump(figures, f, indent=1)
        f.write("\n")
    replaceSection(output, heading, section())


def scanPathSection():
    """
    The section of L{scanPathLines} from L{SCAN_PATHS}, none without it.
    """
    return savedSection(SCAN_PATHS, scanPathLines)


def scanPathLines(figures):
    """
    How often real messages take the attachments filter's email-package
    path, and what each path costs.
    """
    rows = figures["corpora"]
    messages = sum(row["messages"] for row in rows)
    email = sum(row["emailPackage"] for row in rows)
    reasons = {}
    for row in rows:
        for reason, count in row["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    lines = [
        SCAN_PATHS_HEADING, "",
        f"Measured {figures['date']} in-process by `benchmarks/scanpaths.py`"
        f" ({figures['interpreter']}; load average before "
        f"{', '.join(f'{x:.2f}' for x in figures['loadAverageBefore'])}, "
        f"after {', '.join(f'{x:.2f}' for x in figures['loadAverageAfter'])})"
        f". The filter scans a message itself unless the scan finds "
        f"something the email package may read otherwise; then it reads the "
        f"message with the email package, both policies, in its thread "
        f"pool (see `filters/attachments.py`).", "",
        "| fixture | data file | own scan, ms | email package, ms | ratio |",
        "|---|---:|---:|---:|---:|"]
    for kind, row in figures["fixtures"].items():
        lines.append(
            f"| {FIXTURE_NAMES.get(kind, kind)} | {row['bytes'] / 1024:.1f} "
            f"KiB | {row['scanMs']:.3f} | {row['emailPackageMs']:.2f} | "
            f"{row['emailPackageMs'] / row['scanMs']:.0f}× |")
    lines += ["", "Real messages nobody here wrote (the corpora of "
              "`tests/test_mime_corpora.py`):", "",
              "| corpus | messages | read by the email package | refused |",
              "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['corpus']} | {row['messages']} | "
                     f"{row['emailPackage']} | {row['refused']} |")
    share = 100.0 * email / messages if messages else 0.0
    lines += [f"| all | {messages} | {email} ({share:.1f} %) | "
              f"{sum(row['refused'] for row in rows)} |", ""]
    if reasons:
        lines.append("Why: " + "; ".join(
            f"{reason} ({count})" for reason, count
            in sorted(reasons.items(), key=lambda item: -item[1])) + ".")
    lines += ["", f"So such messages are read with the email package (up to "
              f"{figures.get('emailPackageMaxBytes', 0) // 2 ** 20} MiB; "
              f"larger ones are refused as too complex) rather than refused: "
              f"refusing would turn away {share:.1f} % of these real "
              f"messages, while the email package's path costs them about "
              f"what courier-pythonfilter spends on every message."]
    if figures.get("missingCorpora"):
        lines.append(f"Not measured: {figures['missingCorpora']}.")
    return lines


def reloadSection():
    """
    The section of L{reloadLines} from L{RELOAD}, none without it.
    """
    return savedSection(RELOAD, reloadLines)


def reloadLines(figures):
    """
    What a reload every so often costs the requests, and how long a reload
    takes.
    """
    lines = [
        RELOAD_HEADING, "",
        f"Measured {figures['date']} by `benchmarks/reload.py` (Python "
        f"{figures['interpreter']}): the daemon with the chain "
        f"`{' '.join(figures['chain'])}` (embedded store), the closed-loop "
        f"load generator for {figures['seconds']:g} s steady, then "
        f"{figures['seconds']:g} s while `reload` goes to the control socket"
        f" every {figures['pause'] * 1000:.0f} ms (the old chain finishes "
        f"its messages, the new one takes the next). Reload: the control "
        f"request's round trip (read both files and Courier's, build and "
        f"start the new chain, swap it in).", "",
        "| c | msg/s steady | msg/s reloading | p99 ms steady | "
        "p99 ms reloading | max ms reloading | reloads | reload p50 / p99 /"
        " max ms | replies other than 200 |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for concurrency, cell in figures["cells"].items():
        steady, busy, reload = cell["steady"], cell["reloading"], \
            cell["reload"]
        others = sum(count for code, count in busy["replies"].items()
                     if code != "200") + busy["errors"]
        lines.append(
            f"| {concurrency} | {number(steady['rate'])} | "
            f"{number(busy['rate'])} | {number(steady['p99ms'], 2)} | "
            f"{number(busy['p99ms'], 2)} | {number(busy['maxms'], 1)} | "
            f"{reload['reloads']} | {number(reload['p50ms'], 1)} / "
            f"{number(reload['p99ms'], 1)} / {number(reload['maxms'], 1)} "
            f"| {others} |")
    return lines


def replaceSection(path, heading, lines):
    """
    Put C{lines} (a section starting with C{heading}) into the file at
    C{path} in place of the section there (at the end if there is none).
    """
    with open(path) as f:
        text = f.read()
    start = text.find(heading)
    kept = text if start < 0 else text[:start]
    if start >= 0:
        following = text.find("\n## ", start + 1)
        if following >= 0:
            kept += text[following + 1:]
    with open(path, "w") as f:
        f.write(kept.rstrip("\n") + "\n\n" + "\n".join(lines))
