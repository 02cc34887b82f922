"""
Benchmark fixtures: data and control files as Courier stores them.

Three fixture kinds, each in C{COPIES} distinct copies that the load
generator rotates through:

  - C{small}: ~2.0 KB text/plain, 7bit;
  - C{100k}: ~98.7 KB multipart/mixed, a short text part and C{report.pdf}
    with 95 KiB of base64 (line ends included);
  - C{5m}: ~5.0 MiB multipart/mixed, a short text part and C{report.pdf}
    with 5 MiB of base64 (line ends included).

Data files have LF line ends and Courier's own C{Received:} header first.
Control files carry a sender, a remote MTA at 203.0.113.45 (neither a relay
client nor whitelisted), no AUTH user, two distinct recipients and no
C{Delivered-To:} header or blocked attachment name: every message runs a
whole chain and is accepted.

Files land under C{WORKDIR/tmp/KIND/} (C{D<n>} data, C{C<n>} control).
Generation is deterministic; files already there as generated are kept.
"""

import base64
import os
import random

COPIES = 8
KINDS = ("small", "100k", "5m")
REMOTE_IP = "203.0.113.45"
RECIPIENTS = ("bob@example.com", "carol@example.com")

_ATTACHMENT_BASE64_BYTES = {"100k": 95 * 1024, "5m": 5 * 1024 * 1024}
_SMALL_BODY_BYTES = 1500
_BASE64_LINE = 76
_EPOCH = 1795593907


def fixtureDir(workDir, kind):
    return os.path.join(os.path.abspath(workDir), "tmp", kind)


def fixturePaths(workDir, kind, copies=COPIES):
    """
    The (data path, control path) pairs of one fixture kind.
    """
    directory = fixtureDir(workDir, kind)
    return [(os.path.join(directory, f"D{n}"), os.path.join(directory, f"C{n}"))
            for n in range(copies)]


def buildFixtures(workDir, kinds=KINDS, copies=COPIES):
    """
    Write the fixtures of C{kinds} under C{workDir}, unless they are there
    as generated: a file a filter rewrote (spamassassin and rspamd put
    their headers in; the reference's in-place rewrite can even truncate a
    copy two clients share) is written again.

    @return: C{{kind: [(dataPath, controlPath), ...]}}
    """
    result = {}
    for kind in kinds:
        os.makedirs(fixtureDir(workDir, kind), exist_ok=True)
        pairs = fixturePaths(workDir, kind, copies)
        for number, (dataPath, controlPath) in enumerate(pairs):
            _restore(dataPath, dataFile(kind, number))
            _restore(controlPath, controlFile(kind, number))
        result[kind] = pairs
    return result


def _restore(path, content):
    try:
        with open(path, "rb") as f:
            if f.read() == content:
                return
    except FileNotFoundError:
        pass
    _writeAtomically(path, content)


def queueId(kind, number):
    return f"{KINDS.index(kind) + 1:016X}.{_EPOCH:016X}.{number:08X}"


def controlFile(kind, number):
    """
    The control file of copy C{number} of C{kind}, in the record layout of
    the reference's own test queue files.
    """
    records = [
        f"ssender{number}@sender.example",
        f"fdns; mail.sender.example (mail.sender.example [{REMOTE_IP}])",
        "e",
        "t",
        f"M{queueId(kind, number)}",
    ]
    for address in RECIPIENTS:
        records += [f"r{address}", f"Rrfc822;{address}", "N"]
    records += [
        f"OTCPREMOTEIP={REMOTE_IP}",
        "uesmtp",
        f"E{_EPOCH + 604800}",
        f"p{_EPOCH + 28800}",
        f"W{_EPOCH + 14400}",
    ]
    return ("\n".join(records) + "\n").encode("ascii")


def dataFile(kind, number):
    """
    The data file of copy C{number} of C{kind}.
    """
    rng = random.Random(f"{kind}-{number}")
    headers = _headers(kind, number)
    if kind == "small":
        return (headers
                + "Content-Type: text/plain; charset=us-ascii\n"
                + "Content-Transfer-Encoding: 7bit\n\n"
                + _text(rng, _SMALL_BODY_BYTES)).encode("ascii")
    boundary = f"=_bench_{kind}_{number}_{rng.getrandbits(48):012x}"
    encodedChars = _ATTACHMENT_BASE64_BYTES[kind] * _BASE64_LINE // (
        _BASE64_LINE + 1)
    payload = base64.b64encode(rng.randbytes(encodedChars * 3 // 4)).decode(
        "ascii")
    lines = "\n".join(payload[i:i + _BASE64_LINE]
                      for i in range(0, len(payload), _BASE64_LINE))
    return (headers
            + f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
            + "This is a multi-part message in MIME format.\n\n"
            + f"--{boundary}\n"
            + "Content-Type: text/plain; charset=us-ascii\n"
            + "Content-Transfer-Encoding: 7bit\n\n"
            + _text(rng, 400) + "\n"
            + f"--{boundary}\n"
            + 'Content-Type: application/pdf; name="report.pdf"\n'
            + "Content-Transfer-Encoding: base64\n"
            + 'Content-Disposition: attachment; filename="report.pdf"\n\n'
            + lines + "\n"
            + f"--{boundary}--\n").encode("ascii")


def _headers(kind, number):
    return (
        "Received: from mail.sender.example "
        f"(mail.sender.example [{REMOTE_IP}])\n"
        "  by mx.example.com with ESMTP; Wed, 25 Nov 2026 08:05:07 +0000\n"
        f"  id {queueId(kind, number)}\n"
        f"From: Sender {number} <sender{number}@sender.example>\n"
        f"To: {', '.join(RECIPIENTS)}\n"
        f"Subject: benchmark {kind} message {number}\n"
        "Date: Wed, 25 Nov 2026 08:05:07 +0000\n"
        f"Message-ID: <bench-{kind}-{number}@sender.example>\n"
        "MIME-Version: 1.0\n")


_WORDS = ("quarterly", "report", "attached", "please", "review", "the",
          "figures", "before", "meeting", "on", "thursday", "regards",
          "budget", "numbers", "and", "forecast", "for", "next", "year")


def _text(rng, size):
    """
    Plain 7-bit prose of about C{size} bytes in lines under 72 characters.
    """
    lines, line, total = [], [], 0
    while total < size:
        word = rng.choice(_WORDS)
        if sum(len(w) + 1 for w in line) + len(word) > 70:
            lines.append(" ".join(line))
            line = []
        line.append(word)
        total += len(word) + 1
    lines.append(" ".join(line))
    return "\n".join(lines) + "\n"


def _writeAtomically(path, content):
    temporary = path + ".new"
    with open(temporary, "wb") as f:
        f.write(content)
    os.rename(temporary, path)
