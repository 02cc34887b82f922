"""
clamav: scan each message with ClamAV's daemon (clamd) and refuse viruses.

The whole message file is scanned (clamd decodes MIME itself).  clamd
needs no access to Courier's spool: by default the open file is passed to
clamd over its UNIX socket (C{FILDES}), and streamed to it in chunks over
TCP (C{INSTREAM}).  Passing the descriptor scans as fast as by path
(benchmarks/RESULTS.md has the figures).  C{scan_mode = 'path'} sends clamd the file's path
instead (C{SCAN}, as courier-pythonfilter does), which needs clamd to be
able to read the spool.

Options (section C{[clamav.py]}):

  - C{local_socket}: clamd's UNIX socket.  Default C{None}: the
    C{LocalSocket} of /etc/clamav/clamd.conf or /etc/clamd.conf.
  - C{tcp_address}: C{'host:port'} of clamd's TCP socket, used instead of
    C{local_socket} when set.  Default C{None}.
  - C{action}: C{'reject'} (default) refuses a virus; any other value
    quarantines the message (L{pyfilter.quarantine}, configured by the
    section C{[quarantine]}; its recipients are notified).
  - C{scan_mode}: C{'fildes'} (UNIX socket only), C{'stream'} or
    C{'path'}.  Default C{None}: C{'fildes'} on a UNIX socket, C{'stream'}
    over TCP.
  - C{max_stream_size}: bytes streamed at most, to stay within clamd's
    C{StreamMaxLength} (default 26214400, clamd's default); a larger message
    is scanned on its first C{max_stream_size} bytes (logged), as clamd's
    own size limits do.
  - C{clamd_timeout}: seconds for the whole scan, waiting included
    (default 30; the chain's C{timeout} for the filter should be longer).
  - C{max_connections}: concurrent connections to clamd (default 8); at most
    eight times as many scans wait for one.
  - C{unavailable_reply}: the reply when clamd fails, cannot be reached or
    does not answer in time; C{{reason}} is replaced by the reason.  Default
    C{'451 Virus scanner error: {reason}'}; C{''} lets mail pass unscanned.

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
        "local_socket": Option(None, optional(address), "clamd's UNIX socket"),
        "tcp_address": Option(None, optional(address),
                              "clamd's 'host:port', instead of the socket"),
        "action": Option("reject", string,
                         "'reject', or anything else to quarantine"),
        "scan_mode": Option(None, optional(scanMode),
                            "'fildes', 'stream' or 'path'"),
        "max_stream_size": Option(clamd.DEFAULT_STREAM_LIMIT,
                                  nonNegativeInteger,
                                  "bytes streamed to clamd at most"),
        "clamd_timeout": Option(30.0, positiveNumber, "seconds for a scan"),
        "max_connections": Option(8, positiveInteger,
                                  "concurrent connections to clamd"),
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
