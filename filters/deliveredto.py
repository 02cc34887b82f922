"""
deliveredto: refuse mail that already went through local delivery here.

Courier adds a C{Delivered-To:} header when it delivers mail locally.  A
message arriving with such a header for one of our own domains has come
back to us: a mail loop.  Every C{Delivered-To} header of the message's
header block (delimited as Python's email package delimits it: it ends at
the first line that is not a header line) is checked; its
address is parsed (display names and angle brackets are fine) and its
domain compared, case-insensitively, with Courier's local domains
(C{locals}, or C{me} when there is no C{locals}) and hosted domains
(C{hosteddomains}).  A match is answered

    501 Mail loop - already have my Delivered-To: header.

Other mail gets no opinion.  When the data file cannot be read the answer is
C{451 Internal failure parsing message data file}.

Its options and their defaults: C{pyfilter check --help-filter
deliveredto}.
"""

from email.utils import getaddresses

from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option
from pyfilter.engine.reply import Reply

LOOP_TEXT = "Mail loop - already have my Delivered-To: header."
UNREADABLE = Reply("451", "Internal failure parsing message data file")


def replyCode(value):
    if not (isinstance(value, str) and len(value) == 3 and value.isdigit()
            and value[0] in "45"):
        raise ValueError("expected a 4xx or 5xx reply code as text")
    return value


class DeliveredTo(Filter):
    options = {
        "reply_code": Option("501", replyCode,
                             "code of the mail loop reply, a permanent "
                             "5xx or temporary 4xx code as text (the "
                             "default is the reference's; \"554\" is the "
                             "code RFC 5321 gives for a routing loop)"),
    }
    onError = None

    def match(self, message):
        try:
            values = message.header("Delivered-To")
        except OSError as e:
            self.log.warn("deliveredto: cannot read {path}: {error}",
                          path=message.dataPath, error=e)
            return UNREADABLE
        courier = self.context.courier
        for _, address in getaddresses([str(value) for value in values]):
            _, at, domain = address.rpartition("@")
            domain = domain.strip().lower()
            if at and domain and (courier.isLocal(domain)
                           or courier.isHostedDomain(domain)):
                return Reply(self.config["reply_code"], LOOP_TEXT)
        return None


FILTER = DeliveredTo
