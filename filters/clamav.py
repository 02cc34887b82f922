"""
clamav: scan each message with ClamAV's daemon (clamd) and refuse viruses.

The whole message file is scanned (clamd decodes MIME itself).  clamd
needs no access to Courier's spool: by default the open file is passed to
clamd over its UNIX socket (C{FILDES}), and streamed to it in chunks over
TCP (C{INSTREAM}).  Passing the descriptor scans as fast as by path
(benchmarks/RESULTS.md has the figures).  C{scan_mode = 'path'} sends
clamd the file's path instead (C{SCAN}, as courier-pythonfilter does),
which needs clamd to be able to read the spool.  Scans go over clamd
sessions kept open between messages (at most C{max_connections}).

Its options and their defaults: C{pyfilter check --help-filter clamav}.
When clamd fails, cannot be reached or does not answer in time the filter
answers its C{on_error}, C{{reason}} replaced by the reason (the
reference's name C{unavailable_reply} is read too, C{''} letting mail
pass unscanned).

Replies: C{554 Virus found - Signature is <signature>}; on scanner errors
the reference's text C{Virus scanner error: <reason>} with code 451 instead
of the reference's non-standard 430.  A quarantined message is answered
C{050 OK} (accepted, with every recipient already marked delivered); when
the quarantine fails, C{451 Virus found, quarantine failed} (never an
accept).  A message released from the quarantine comes back through
Courier's sendmail; it is recognised (L{pyfilter.quarantine}) and passes.
"""

from pyfilter.clients import clamd
from pyfilter import quarantine
from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import (
    Option,
    address,
    nonNegativeInteger,
    optional,
    positiveInteger,
    positiveNumber,
    string)
from pyfilter.engine.reply import Reply

SCAN_MODES = ("fildes", "stream", "path")
QUARANTINED = Reply("050", "OK")
QUARANTINE_FAILED = Reply("451", "Virus found, quarantine failed")


def scanMode(value):
    if value not in SCAN_MODES:
        raise ValueError("expected 'fildes', 'stream' or 'path'")
    return value


class ClamAV(Filter):
    options = {
        "local_socket": Option(
            None, optional(address),
            "clamd's UNIX socket; None: the LocalSocket of "
            "/etc/clamav/clamd.conf or /etc/clamd.conf"),
        "tcp_address": Option(
            None, optional(address),
            "'host:port' of clamd's TCP socket, used instead of "
            "local_socket when set"),
        "action": Option(
            "reject", string,
            "'reject' refuses a virus; any other value quarantines the "
            "message (pyfilter.quarantine, configured by the section "
            "[quarantine]; its recipients are notified)"),
        "scan_mode": Option(
            None, optional(scanMode),
            "'fildes' (UNIX socket only), 'stream' or 'path'; None: "
            "'fildes' on a UNIX socket, 'stream' over TCP"),
        "max_stream_size": Option(
            clamd.DEFAULT_STREAM_LIMIT, nonNegativeInteger,
            "bytes streamed at most, to stay within clamd's StreamMaxLength "
            "(the default is clamd's); a larger message is scanned on its "
            "first max_stream_size bytes (logged), as clamd's own size "
            "limits do"),
        "clamd_timeout": Option(
            30.0, positiveNumber,
            "seconds for the whole scan, waiting included (the filter's "
            "timeout should be longer)"),
        "max_connections": Option(
            8, positiveInteger,
            "concurrent connections to clamd; at most eight times as many "
            "scans wait for one"),
    }
    onError = "451 Virus scanner error: {reason}"

    def start(self):
        where = (self.config["tcp_address"] or self.config["local_socket"]
                 or clamd.localSocketFromConf())
        if where is None:
            raise ConfigError(
                "[clamav.py] local_socket is not set and no LocalSocket was "
                f"found in {' or '.join(clamd.CLAMD_CONFS)}")
        overTCP = not where.startswith("/")
        self.scanMode = self.config["scan_mode"] or (
            "stream" if overTCP else "fildes")
        if overTCP and self.scanMode == "fildes":
            raise ConfigError("[clamav.py] scan_mode 'fildes' needs clamd's "
                              "UNIX socket (local_socket), not tcp_address")
        self.clamd = clamd.ClamdClient(
            self.context.reactor, where, self.config["clamd_timeout"],
            self.config["max_connections"])
        if self.config["action"] != "reject":
            quarantine.forContext(self.context)
        self.log.info("clamav: scanning with clamd at {where} by {mode}",
                      where=where, mode=self.scanMode)

    def stop(self):
        return self.clamd.close()

    def match(self, message):
        if self.scanMode == "path":
            scanning = self.clamd.scanPath(message.dataPath)
        elif self.scanMode == "fildes":
            scanning = self.clamd.scanDescriptor(message.dataPath)
        else:
            limit = self.config["max_stream_size"]
            if message.size > limit:
                self.log.info(
                    "clamav: message {messageId} is {size} bytes, scanning "
                    "its first {limit}", messageId=message.messageId,
                    size=message.size, limit=limit)
            scanning = self.clamd.scanStream(message.dataPath, limit)
        return scanning.addCallback(self._scanned, message)

    def _scanned(self, signature, message):
        if signature is None:
            return None
        self.log.info("clamav: message {messageId} carries {signature}",
                      messageId=message.messageId, signature=signature)
        if self.config["action"] == "reject":
            return Reply("554", f"Virus found - Signature is {signature}")
        return self.quarantine(message, signature)

    def quarantine(self, message, signature):
        held = quarantine.quarantine(
            self.context, message,
            f"The virus {signature} was found in the message")
        held.addCallbacks(lambda entryId: QUARANTINED if entryId else None,
                          self._notHeld,
                          errbackArgs=(message,))
        return held

    def _notHeld(self, failure, message):
        self.log.failure("clamav: message {messageId} could not be "
                         "quarantined", failure, messageId=message.messageId)
        return QUARANTINE_FAILED


FILTER = ClamAV
