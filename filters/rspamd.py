"""
rspamd: have rspamd check each message and carry out its verdict.

pyfilter sends the message to rspamd's normal worker (C{/checkv2}) with
the envelope as request headers (client IP, HELO, MAIL FROM, every RCPT,
queue id, the authenticated user, this host's name), and then:

  - C{reject}: refuses with 554 and rspamd's SMTP message (or
    C{reject_reply} when rspamd gives none, as for a score-based reject);
  - C{soft reject} and C{greylist}: 451, try again later;
  - C{add header}, C{rewrite subject}, C{no action}: accepts, and applies
    the changes rspamd asks for: the headers of its milter block
    (added and removed), the new Subject, and the DKIM-Signature fields
    its signing made (put on top, so that the signature stays valid).
    The data file is rewritten atomically; other bytes stay as they were.

Its options and their defaults: C{pyfilter check --help-filter rspamd}.
When rspamd fails, cannot be reached or does not answer in time the filter
answers its C{on_error} (C{'continue'} accepts such mail); C{testing} logs
the verdict without carrying it out.
"""

from pyfilter.clients import rspamd
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import (
    Option, mapping, oneOf, optional, replyOr, string)
from pyfilter.engine.reply import Reply

_TEMPORARY = ("soft reject", "greylist")


def removeField(edit, name, index):
    """
    Remove fields called C{name} as rspamd's milter block means C{index}:
    0 every one, N > 0 the Nth from the top, N < 0 the -Nth from the
    bottom.
    """
    if index == 0:
        edit.removeHeader(name)
        return
    count = len(edit.values(name))
    if abs(index) > count:
        return
    target = index if index > 0 else count + index + 1
    seen = []

    def where(raw):
        seen.append(raw)
        return len(seen) == target

    edit.removeHeader(name, where)


class Rspamd(Filter):
    options = {
        "url": Option(rspamd.DEFAULT_WORKER, string,
                      "rspamd's normal worker"),
        "hand_over": Option("stream", oneOf("stream", "file"),
                            "'stream' sends the message's bytes; 'file' "
                            "sends only its path (rspamd's user, _rspamd, "
                            "must be able to read Courier's spool: add it "
                            "to group courier)"),
        "request_headers": Option({}, mapping(string, string),
                                  "further request headers, such as "
                                  "{'Settings-ID': 'outbound'}"),
        "controller": Option(rspamd.DEFAULT_CONTROLLER, string,
                             "rspamd's controller, for pyfilter rspamd "
                             "learn-spam|learn-ham"),
        "password": Option(None, optional(string),
                           "the controller's password"),
        "reject_reply": Option("Mail rejected - spam detected", string,
                               "the reply text of a reject without "
                               "rspamd's message"),
        "actions": Option({}, mapping(string, replyOr("accept")),
                          "replies by action name overriding the above: a "
                          "reply ('550 go away') or 'accept'"),
    }
    onError = "451 Spam scanner error: {reason}"

    def start(self):
        self.client = rspamd.RspamdClient(
            self.context.reactor, self.config["url"],
            self.config["timeout"] or 30.0)
        self.mtaName = self.context.courier.me()

    def envelope(self, message):
        ip = message.remoteIP
        return rspamd.Envelope(
            ip=None if ip is None else str(ip), helo=message.helo,
            sender=message.sender,
            recipients=tuple(r.address for r in message.recipients),
            queueId=message.messageId, user=message.authUser,
            mtaName=self.mtaName,
            extra=tuple(self.config["request_headers"].items()))

    def match(self, message):
        d = self.client.check(message.dataPath, self.envelope(message),
                              self.config["hand_over"])
        return d.addCallback(self._checked, message)

    def _checked(self, result, message):
        symbols = ",".join(sorted(result.symbols))
        self.note(message, score=result.score, action=result.action,
                  symbols=symbols[:200])
        override = self.config["actions"].get(result.action)
        if override == "accept":
            return self.apply(message, result)
        if override is not None:
            return Reply.fromString(override)
        if result.action == "reject":
            return Reply("554", result.smtpMessage
                         or self.config["reject_reply"])
        if result.action in _TEMPORARY:
            return Reply("451", result.smtpMessage
                         or "Try again later")
        return self.apply(message, result)

    def apply(self, message, result):
        """
        Carry out the changes rspamd asked for in one atomic rewrite.
        """
        milter = result.milter
        if not (milter.addHeaders or milter.removeHeaders
                or result.subject is not None or result.dkimSignatures):
            return None

        def change(edit):
            for name, index in milter.removeHeaders:
                removeField(edit, name, index)
            if result.subject is not None:
                edit.replaceHeader("Subject", result.subject)
            for added in milter.addHeaders:
                if added.order == 0:
                    edit.prependHeader(added.name, added.value)
                else:
                    edit.appendHeader(added.name, added.value)
            for signature in reversed(result.dkimSignatures):
                edit.prependHeader("DKIM-Signature", signature)

        return message.rewrite(change)


FILTER = Rspamd
