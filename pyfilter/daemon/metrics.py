"""
The daemon's Prometheus metrics, in a registry of its own, served on the
endpoint given by C{--metrics} (a strports description such as
C{tcp:9137:interface=127.0.0.1}); no endpoint unless configured.
"""

from bisect import bisect_left
import collections
from importlib import metadata
from itertools import accumulate

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
    Info, generate_latest)
from prometheus_client.core import (
    CounterMetricFamily, HistogramMetricFamily)
from prometheus_client.utils import floatToGoString
from twisted.web import resource

from pyfilter.engine.reply import Reply

#: Bucket bounds in seconds for the latency histograms.
BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
           30, 60)
_BOUNDS = [floatToGoString(bound) for bound in BUCKETS] + ["+Inf"]


def verdictClass(outcome):
    """
    C{"2xx"}, C{"4xx"}, C{"5xx"} for a reply; the word for anything else.
    """
    if isinstance(outcome, Reply):
        return outcome.digit + "xx"
    return "continue" if outcome is None else str(outcome)


def _version():
    try:
        return metadata.version("pyfilter")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Histogram:
    """
    One histogram's counts: per bucket (the last is C{+Inf}), and the sum.
    """

    def __init__(self):
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds):
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    def buckets(self):
        """
        The cumulative C{(bound, count)} pairs Prometheus expects.
        """
        return list(zip(_BOUNDS, accumulate(self.counts)))


class _PerMessage:
    """
    The figures counted for every message, kept as plain numbers: they are
    updated only in the reactor thread, a few dictionary updates a message
    instead of prometheus-client's locked children, and rendered as
    Prometheus families when scraped.
    """

    def __init__(self):
        self.messages = collections.Counter()
        self.filterVerdicts = collections.Counter()
        self.filterErrors = collections.Counter()
        self.outages = collections.Counter()
        self.filterSeconds = {}
        self.messageSeconds = _Histogram()

    def describe(self):
        return self.collect()

    def collect(self):
        for name, doc, labels, counts in (
                ("pyfilter_messages", "messages by final verdict",
                 ["verdict"], self.messages),
                ("pyfilter_filter_verdicts", "verdicts of each filter "
                 "(testing-* for filters in testing mode)",
                 ["filter", "verdict"], self.filterVerdicts),
                ("pyfilter_filter_errors", "filter errors and timeouts",
                 ["filter", "kind"], self.filterErrors),
                ("pyfilter_outages", "outages met, per service",
                 ["service"], self.outages)):
            family = CounterMetricFamily(name, doc, labels=labels)
            for key, value in counts.items():
                family.add_metric(key, value)
            yield family
        family = HistogramMetricFamily(
            "pyfilter_filter_seconds", "time each filter took",
            labels=["filter"])
        for name, histogram in self.filterSeconds.items():
            family.add_metric([name], histogram.buckets(), histogram.sum)
        yield family
        family = HistogramMetricFamily(
            "pyfilter_message_seconds", "time the chain took per message")
        family.add_metric([], self.messageSeconds.buckets(),
                          self.messageSeconds.sum)
        yield family


class Metrics:
    """
    The figures of one daemon; one instance lives as long as the daemon
    (across reloads).
    """

    def __init__(self):
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.perMessage = _PerMessage()
        r.register(self.perMessage)
        self.inFlight = Gauge(
            "pyfilter_in_flight", "messages being filtered", registry=r)
        self.connections = Gauge(
            "pyfilter_connections", "connections open", registry=r)
        self.threadsBusy = Gauge(
            "pyfilter_threads_busy",
            "blocking calls running or waiting for a thread", registry=r)
        self.storeSeconds = Histogram(
            "pyfilter_store_seconds", "time state store operations took",
            ["operation", "result"], buckets=BUCKETS, registry=r)
        self.reloads = Counter(
            "pyfilter_reloads", "configuration reloads by result",
            ["result"], registry=r)
        Info("pyfilter_build", "build information",
             registry=r).info({"version": _version()})

    def filtered(self, entry, outcome, seconds):
        """
        Count what the chain observed of one filter (in the reactor
        thread).
        """
        word = verdictClass(outcome)
        if entry.testing:
            word = "testing-" + word
        counts = self.perMessage
        counts.filterVerdicts[entry.name, word] += 1
        histogram = counts.filterSeconds.get(entry.name)
        if histogram is None:
            histogram = counts.filterSeconds[entry.name] = _Histogram()
        histogram.observe(seconds)
        if outcome in ("error", "timeout", "deadline"):
            counts.filterErrors[entry.name, outcome] += 1

    def decided(self, reply, outages, seconds):
        """
        Count a message's final reply, its outages and its total time (in
        the reactor thread).
        """
        counts = self.perMessage
        counts.messages[(verdictClass(reply),)] += 1
        counts.messageSeconds.observe(seconds)
        for _, service, _ in outages:
            counts.outages[(service or "unknown",)] += 1

    def storeOperation(self, operation, seconds, ok):
        """
        Time one state store operation (C{Context.observeStore}).
        """
        self.storeSeconds.labels(operation, "ok" if ok else "failed").observe(
            seconds)

    def reloaded(self, ok):
        self.reloads.labels("ok" if ok else "failed").inc()

    def snapshot(self):
        """
        The figures as plain data, shaped for an admin (C{pyfilter
        status}): C{messages} by verdict class; per filter its
        C{verdicts}, C{errors} by kind, C{count} and mean C{ms}; C{outages}
        by service; C{store} operations with C{count}, C{failed} and mean
        C{ms}; C{reloads} by result; the gauges C{in_flight},
        C{connections}, C{threads_busy}; C{messages_ms}, the mean time per
        message.
        """
        samples = {}
        for family in self.registry.collect():
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(
                    (sample.labels, sample.value))

        def byLabel(name, label):
            return {labels[label]: int(value)
                    for labels, value in samples.get(name, ())}

        def meanMs(name, labels):
            def total(suffix):
                return sum(value for found, value
                           in samples.get(name + suffix, ())
                           if all(found.get(k) == v
                                  for k, v in labels.items()))
            count = total("_count")
            return count, round(1000 * total("_sum") / count, 3) \
                if count else None

        filters = {}
        for labels, value in samples.get("pyfilter_filter_verdicts_total",
                                         ()):
            entry = filters.setdefault(labels["filter"], {
                "verdicts": {}, "errors": {}})
            entry["verdicts"][labels["verdict"]] = int(value)
        for labels, value in samples.get("pyfilter_filter_errors_total", ()):
            filters.setdefault(labels["filter"], {
                "verdicts": {}, "errors": {}})["errors"][labels["kind"]] = \
                int(value)
        for name, entry in filters.items():
            entry["count"], entry["ms"] = meanMs(
                "pyfilter_filter_seconds", {"filter": name})
        store = {}
        for labels, _ in samples.get("pyfilter_store_seconds_count", ()):
            operation = labels["operation"]
            count, ms = meanMs("pyfilter_store_seconds",
                               {"operation": operation})
            failed, _ = meanMs("pyfilter_store_seconds",
                               {"operation": operation, "result": "failed"})
            store[operation] = {"count": count, "failed": failed, "ms": ms}
        gauges = {name: int(samples["pyfilter_" + name][0][1])
                  for name in ("in_flight", "connections", "threads_busy")}
        return dict(
            gauges, messages=byLabel("pyfilter_messages_total", "verdict"),
            messages_ms=meanMs("pyfilter_message_seconds", {})[1],
            filters=filters,
            outages=byLabel("pyfilter_outages_total", "service"),
            store=store, reloads=byLabel("pyfilter_reloads_total", "result"))

    def resource(self):
        """
        The twisted.web resource serving these metrics as Prometheus text.
        """
        return MetricsPage(self.registry)


class MetricsPage(resource.Resource):
    """
    Prometheus text for any GET, rendered in the reactor thread
    (prometheus-client's own MetricsResource runs WSGI in the reactor's
    thread pool, which the daemon does not size for it).
    """

    isLeaf = True

    def __init__(self, registry):
        super().__init__()
        self.registry = registry

    def render_GET(self, request):
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self.registry)
