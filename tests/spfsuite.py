"""
The SPF test suites pyspf ships (rfc7208-tests.yml in its sdist, from the
openspf.org test suite) turned into zones for L{tests.dnsserver}: each
scenario's DNS data served by a real twisted.names server, for a
differential test of pyfilter's SPF evaluation against pyspf's own.

The suite's files are not in this repository: tools/test.sh downloads
pyspf's sdist into the directory named by C{PYFILTER_SPF_SUITE}.

The zone data is read as pyspf's own test driver (test/testspf.py) reads it:
an C{SPF} record without a C{TXT} record at the same name is served as both;
C{TXT: NONE} means no TXT record; C{TIMEOUT} makes the server drop the
queries for that name of every type with no record before it.
"""

import glob
import os
import tarfile

from twisted.names import dns

SUITE_ENV = "PYFILTER_SPF_SUITE"
RFC7208 = "rfc7208-tests.yml"

#: The query types an SPF check asks for.
QUERY_TYPES = {"A": dns.A, "AAAA": dns.AAAA, "MX": dns.MX, "PTR": dns.PTR,
               "TXT": dns.TXT, "SPF": dns.SPF}


def suiteText(name=RFC7208):
    """
    The bytes of the suite file C{name} from the pyspf sdist in
    C{$PYFILTER_SPF_SUITE}.

    @raise LookupError: no such directory, sdist or file (the reason).
    """
    directory = os.environ.get(SUITE_ENV)
    if not directory:
        raise LookupError(f"{SUITE_ENV} is not set (tools/test.sh sets it "
                          f"to a directory holding pyspf's sdist)")
    sdists = sorted(glob.glob(os.path.join(directory, "pyspf-*.tar.gz")))
    if not sdists:
        raise LookupError(f"no pyspf-*.tar.gz in {directory}")
    with tarfile.open(sdists[-1]) as sdist:
        for member in sdist.getmembers():
            if member.name.endswith("/test/" + name):
                return sdist.extractfile(member).read()
    raise LookupError(f"{sdists[-1]} holds no test/{name}")


def _strings(value):
    strings = [value] if isinstance(value, str) else list(value)
    return [s.encode("utf-8") for s in strings]


def _record(kind, value):
    if kind == "A":
        return dns.Record_A(value)
    if kind == "AAAA":
        return dns.Record_AAAA(value)
    if kind == "MX":
        preference, exchange = value
        return dns.Record_MX(preference, exchange.encode())
    if kind == "PTR":
        return dns.Record_PTR(value.encode())
    if kind == "CNAME":
        return dns.Record_CNAME(value.encode())
    if kind == "TXT":
        return dns.Record_TXT(*_strings(value))
    if kind == "SPF":
        return dns.Record_SPF(*_strings(value))
    raise ValueError(f"unknown record type {kind!r}")


def zoneRecords(items):
    """
    The records of one name's suite entries, and the query types that time
    out for it.

    @return: C{(records, timeouts)}: twisted.names records, type codes.
    """
    records = []
    kinds = set()
    timeouts = set()
    for item in items:
        if item == "TIMEOUT":
            timeouts = set(QUERY_TYPES.values()) - {r.TYPE for r in records}
            break
        ((kind, value),) = item.items()
        kinds.add(kind)
        if value != "NONE":
            records.append(_record(kind, value))
    if "TXT" not in kinds:
        records += [dns.Record_TXT(*r.data) for r in records
                    if r.TYPE == dns.SPF]
    return records, timeouts


class Scenario:
    """
    One scenario of a suite: its zone and its tests.

    @ivar records: name to twisted.names records, for one zone.
    @ivar unanswered: C{(name, type)} pairs the server must drop.
    @ivar tests: test name to its C{host}, C{mailfrom}, C{helo}, C{result}
        (one result or a list of acceptable ones).
    """

    def __init__(self, document):
        self.description = document.get("description", "")
        self.records = {}
        self.unanswered = set()
        for name, items in (document.get("zonedata") or {}).items():
            key = name.lower().rstrip(".")
            records, timeouts = zoneRecords(items)
            self.records[key] = records
            self.unanswered |= {(key, qtype) for qtype in timeouts}
        self.tests = document["tests"]


def acceptedResults(test):
    """
    The results a suite test accepts (its C{result}: one, or a list).
    """
    result = test["result"]
    return list(result) if isinstance(result, list) else [result]


def scenarios(text):
    """
    The L{Scenario}s of a suite file's text.
    """
    import yaml
    return [Scenario(document) for document in yaml.safe_load_all(text)]
