"""
A closed-loop load generator speaking the courierfilter protocol.

Per message it opens a new connection to the filter's UNIX socket, writes the
data file path, the control file path and an empty line, and reads the reply
until the filter closes the connection; the first three bytes of the reply
are its code.  C{concurrency} clients each send their next message as soon
as their previous reply is complete.  One process, non-blocking sockets on
epoll, so the generator costs little CPU next to the server it measures.

When the listen backlog is full a non-blocking AF_UNIX connect fails with
EAGAIN and, unlike TCP, never completes later; the client then retries every
millisecond, as Courier's blocking connect would wait, and the wait counts in
the message's latency.

Command line (prints one JSON object)::

    python3 loadgen.py --socket PATH --request DATA CONTROL [--request ...]
        [--concurrency 64] [--warmup 1] [--runs 3] [--duration 10]
        [--min-messages 0] [--count N] [--pid PID]

With C{--count N} each run sends exactly N messages instead of running for
C{--duration} seconds.  With C{--pid} each run also reports the server's CPU
time per message and its RSS (from C{/proc}).
"""

import argparse
import errno
import json
import os
import select
import socket
import sys
import time
from collections import Counter

CONNECT_RETRY_SECONDS = 0.001
MESSAGE_TIMEOUT_SECONDS = 120.0
_TIMEOUT_SCAN_SECONDS = 0.5
_RECV_SIZE = 65536


def encodeRequest(dataPath, controlPaths):
    """
    The request bytes for one message: data path, control paths, empty line.
    """
    return "".join(p + "\n" for p in [dataPath, *controlPaths]).encode() + b"\n"


def percentile(sortedValues, fraction):
    """
    Nearest-rank percentile of an ascending list, or None if it is empty.
    """
    if not sortedValues:
        return None
    rank = max(1, -(-len(sortedValues) * fraction // 1))
    return sortedValues[int(rank) - 1]


class _Run:
    """
    One closed-loop run: its clients, counters and latencies.
    """

    def __init__(self, socketPath, requests, concurrency, duration, count,
                 minMessages):
        self.socketPath = socketPath
        self.requests = requests
        self.concurrency = concurrency
        self.duration = duration
        self.count = count
        self.minMessages = minMessages
        self.poller = select.epoll()
        self.inFlight = {}
        self.retries = []
        self.started = 0
        self.latencies = []
        self.replies = Counter()
        self.errors = Counter()

    def execute(self):
        self.begin = time.perf_counter()
        nextScan = self.begin + _TIMEOUT_SCAN_SECONDS
        for _ in range(self.concurrency):
            self._startNext()
        try:
            while self.inFlight or self.retries:
                wait = (CONNECT_RETRY_SECONDS if self.retries
                        else _TIMEOUT_SCAN_SECONDS)
                for fd, _ in self.poller.poll(wait):
                    self._readable(fd)
                if self.retries:
                    self._retryConnects()
                now = time.perf_counter()
                if now >= nextScan:
                    self._expire(now)
                    nextScan = now + _TIMEOUT_SCAN_SECONDS
            self.end = time.perf_counter()
        finally:
            for sock, _, _ in self.inFlight.values():
                sock.close()
            self.poller.close()

    def _keepGoing(self):
        if self.count is not None:
            return self.started < self.count
        return (time.perf_counter() - self.begin < self.duration
                or len(self.latencies) + sum(self.errors.values())
                < self.minMessages)

    def _startNext(self, pending=None):
        """
        Send the next message, or retry C{pending}: the (start time,
        request) of a message whose connect found the backlog full.
        """
        if pending is None:
            if not self._keepGoing():
                return
            self.started += 1
            pending = (time.perf_counter(),
                       self.requests[self.started % len(self.requests)])
        startTime, request = pending
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        result = sock.connect_ex(self.socketPath)
        if result == errno.EAGAIN:
            sock.close()
            self.retries.append(pending)
            return
        if result != 0:
            sock.close()
            self._failed(errno.errorcode.get(result, str(result)))
            return
        try:
            sent = sock.send(request)
        except OSError as e:
            sock.close()
            self._failed(errno.errorcode.get(e.errno, str(e)))
            return
        if sent != len(request):
            sock.close()
            self._failed("short write")
            return
        fd = sock.fileno()
        self.inFlight[fd] = (sock, startTime, [])
        self.poller.register(fd, select.EPOLLIN)

    def _retryConnects(self):
        waiting, self.retries = self.retries, []
        for pending in waiting:
            self._startNext(pending)

    def _readable(self, fd):
        sock, startTime, chunks = self.inFlight[fd]
        try:
            data = sock.recv(_RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            self._close(fd)
            self._failed(errno.errorcode.get(e.errno, str(e)))
            return
        if data:
            chunks.append(data)
            return
        self._close(fd)
        reply = b"".join(chunks)
        if len(reply) < 3:
            self._failed("no reply")
            return
        self.latencies.append(time.perf_counter() - startTime)
        self.replies[reply[:3].decode("ascii", "replace")] += 1
        self._startNext()

    def _expire(self, now):
        for fd, (_, startTime, _) in list(self.inFlight.items()):
            if now - startTime > MESSAGE_TIMEOUT_SECONDS:
                self._close(fd)
                self._failed("timeout")

    def _close(self, fd):
        sock, _, _ = self.inFlight.pop(fd)
        self.poller.unregister(fd)
        sock.close()

    def _failed(self, reason):
        """
        Count a failed message; its client goes on after the retry delay.
        """
        self.errors[reason] += 1
        self.retries.append(None)

    def summary(self):
        latencies = sorted(self.latencies)
        elapsed = self.end - self.begin
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        return {
            "messages": len(latencies),
            "seconds": round(elapsed, 4),
            "rate": len(latencies) / elapsed if elapsed > 0 else 0.0,
            "p50ms": None if p50 is None else p50 * 1000,
            "p99ms": None if p99 is None else p99 * 1000,
            "maxms": latencies[-1] * 1000 if latencies else None,
            "errors": sum(self.errors.values()),
            "errorKinds": dict(self.errors),
            "replies": dict(self.replies),
        }


def runLoad(socketPath, requests, concurrency, duration=None, count=None,
            minMessages=0):
    """
    One closed-loop run against C{socketPath}.

    It stops starting messages after C{duration} seconds (and at least
    C{minMessages} answered) or after C{count} messages, then waits for the
    ones in flight.

    @param requests: request bytes (see L{encodeRequest}), rotated.
    @return: a dict: messages, seconds, rate (msg/s), p50ms, p99ms, maxms,
        errors, errorKinds, replies (code → count).
    """
    if (duration is None) == (count is None):
        raise ValueError("give exactly one of duration and count")
    run = _Run(socketPath, requests, concurrency, duration, count,
               minMessages)
    run.execute()
    return run.summary()


def processCpuSeconds(pid):
    """
    utime + stime of process C{pid}, all threads, from C{/proc}.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processMemory(pid):
    """
    C{{"rssMiB": VmRSS, "hwmMiB": VmHWM}} of process C{pid}.
    """
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    return {"rssMiB": values.get("VmRSS"), "hwmMiB": values.get("VmHWM")}


def measure(socketPath, requests, concurrency, warmup, runs, duration=None,
            count=None, minMessages=0, pid=None):
    """
    An unrecorded warm-up of C{warmup} seconds, then C{runs} recorded runs.

    @return: the list of the runs' summaries; with C{pid}, each also has
        the server's C{cpuMsPerMessage} and memory after the run; the first
        has C{warmupReplies} (code → count of the warm-up).
    """
    warmupReplies = (runLoad(socketPath, requests, concurrency,
                             duration=warmup)["replies"] if warmup else {})
    results = []
    for _ in range(runs):
        cpuBefore = processCpuSeconds(pid) if pid else None
        result = runLoad(socketPath, requests, concurrency, duration, count,
                         minMessages)
        if pid:
            cpu = processCpuSeconds(pid) - cpuBefore
            result["cpuMsPerMessage"] = (cpu * 1000 / result["messages"]
                                         if result["messages"] else None)
            result.update(processMemory(pid))
        results.append(result)
    if results:
        results[0]["warmupReplies"] = warmupReplies
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--request", nargs="+", action="append",
                        required=True, metavar="PATH",
                        help="data path then control path(s); repeatable")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int)
    parser.add_argument("--min-messages", type=int, default=0)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args(argv)
    requests = [encodeRequest(paths[0], paths[1:]) for paths in args.request]
    duration = None if args.count is not None else args.duration
    results = measure(args.socket, requests, args.concurrency, args.warmup,
                      args.runs, duration, args.count, args.min_messages,
                      args.pid)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
