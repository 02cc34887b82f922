"""
attachments: reject mail carrying an attachment whose file name is blocked.

Every part of the message is checked by every name a mail client might
give it:

  - the name courier-pythonfilter checks: the C{filename} parameter of
    C{Content-Disposition}, else the C{name} parameter of C{Content-Type},
    as Python's email package reads it, RFC 2231 and RFC 2047 decoded, for
    every part that is not a multipart container;
  - beyond it, every C{filename} and C{name} parameter of every
    C{Content-Disposition} and C{Content-Type} field of every part
    (multipart containers and duplicate fields and parameters included):
    RFC 2231 decoded (of repeated continuation sections, both the first
    and the last reading), RFC 2047 decoded, with and without RFC 822
    comments, as the email package's newer C{policy.default} reads them
    too; and each also as a client may tidy it: unfolded, surrounding white
    space, quotes and angle brackets and trailing dots removed, cut at a
    NUL.

The parts are those Python's email package finds (so those that
courier-pythonfilter and mail programs built on it see): every
C{message/*} part holds a message whose parts are checked too, a
C{multipart/digest}'s parts are messages, each block of a
C{message/delivery-status} part is a part, a header block ends at the
first line that is not a header line, a lone CR ends a line, and a line
that is a boundary of two nested multiparts belongs to the outer one.

The filter finds them itself, scanning header blocks and boundary lines
without decoding bodies, so large attachments cost little.  Where its scan
meets something the email package may read otherwise (a C{Content-Type}
that is not plain C{type/subtype} with plain parameters, an empty boundary,
a header line that may be a boundary line, a header block ending in a
C{From } line or longer than 1 MiB, boundary lines one after another), it
reads the message with the email package itself, under both its policies,
in the daemon's thread pool: about what courier-pythonfilter spends on
every message, for about 2 % of real messages (benchmarks/RESULTS.md).

Its options and their defaults: C{pyfilter check --help-filter
attachments}.

Reply: C{554 The extension of the attached file is blacklisted} when a name
matches; otherwise no opinion.

A message that cannot be checked completely is refused with
C{554 5.3.4 Message too complex to check its attachments}, since an
attachment could hide in what was not read (a blocked name found anywhere
is answered with the first reply instead):

  - nested deeper than 100 levels, or with more than 10,000 parts that may
    carry a name after its first 10,000 parts;
  - one to be read with the email package that is larger than 32 MiB,
    makes more than 10,000 parts, nests deeper than the email package can
    follow, or holds more than 1 MiB of encoded name fields;
  - a part with two different C{Content-Type} fields (programs differ on
    which one counts, and so on the parts they see);
  - a name field longer than 16 KiB, or one the email package fails on
    (courier-pythonfilter lets such a message through).

Unlike courier-pythonfilter, this filter does not look inside archives
(the reference's optional libarchive scan).
"""

import re

from pyfilter.courier import emailscan
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, regex
from pyfilter.engine.reply import Reply

DEFAULT_PATTERN = (r"^.*\.(scr|exe|com|bat|pif|lnk|sys|mid|vb|js|ws|shs|ceo"
                   r"|cmd|cpl|hta|vbs)$")

BLACKLISTED = Reply("554", "The extension of the attached file is blacklisted")
TOO_COMPLEX = Reply("554",
                    "5.3.4 Message too complex to check its attachments")


class Attachments(Filter):
    options = {
        "blocked_pattern": Option(DEFAULT_PATTERN, regex(re.IGNORECASE),
                                  "a regular expression of the file names "
                                  "to refuse, matched case-insensitively "
                                  "from the start of the name"),
    }
    onError = None

    def match(self, message):
        structure = message.structure
        if structure.anomaly is not None:
            self.log.info("message {messageId}: {anomaly}; reading it with "
                          "the email package", messageId=message.messageId,
                          anomaly=structure.anomaly)
            d = self.context.threads.run(emailscan.emailNames,
                                         message.dataPath)
            d.addCallback(self._checkEmailNames, message)
            return d
        reply = self._blocked(message, (name for part in structure.parts
                                        for name in part.names))
        if reply is None and structure.truncated:
            reply = self._tooComplex(message, "MIME structure beyond the "
                                     "scanner's bounds")
        return reply

    def _checkEmailNames(self, found, message):
        reply = self._blocked(message, found.names)
        if reply is None and found.refused is not None:
            reply = self._tooComplex(message, found.refused)
        return reply

    def _blocked(self, message, names):
        pattern = self.config["blocked_pattern"]
        for name in names:
            if pattern.match(name):
                self.log.info("message {messageId}: blocked attachment "
                              "{name!r}", messageId=message.messageId,
                              name=name)
                return BLACKLISTED
        return None

    def _tooComplex(self, message, reason):
        self.log.warn("message {messageId}: {reason}, refused",
                      messageId=message.messageId, reason=reason)
        return TOO_COMPLEX


FILTER = Attachments
