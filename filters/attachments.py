"""
attachments: reject mail carrying an attachment whose file name is blocked.

Every part of the message that is not a multipart container (the message
itself, each attachment, and parts inside attached messages) is checked by
its file name: the C{filename} parameter of Content-Disposition, else the
C{name} parameter of Content-Type, with RFC 2231 and RFC 2047 encodings
decoded.  Only the headers are read; bodies are never decoded, so large
attachments cost nothing but a scan of the file.

Option (section C{[attachments.py]}):

  - C{blocked_pattern}: a regular expression, matched case-insensitively
    from the start of the file name.  Default
    C{r'^.*\\.(scr|exe|com|bat|pif|lnk|sys|mid|vb|js|ws|shs|ceo|cmd|cpl|hta
    |vbs)$'} (one line).

Reply: C{554 The extension of the attached file is blacklisted} when a name
matches; otherwise no opinion.

A message too complex to scan completely (nested deeper than the scanner
follows, or with more named parts than it keeps) is refused with
C{554 5.3.4 Message too complex to check its attachments}, since an
attachment could hide beyond what was seen.  Unlike courier-pythonfilter, this filter does not
look inside archives (the reference's optional libarchive scan).
"""

import re

from pyfilter import emailscan
from pyfilter.filter import Filter, Option, regex
from pyfilter.reply import Reply

DEFAULT_PATTERN = (r"^.*\.(scr|exe|com|bat|pif|lnk|sys|mid|vb|js|ws|shs|ceo"
                   r"|cmd|cpl|hta|vbs)$")

BLACKLISTED = Reply("554", "The extension of the attached file is blacklisted")
TOO_COMPLEX = Reply("554", "5.3.4 Message too complex to check its attachments")


class Attachments(Filter):
    options = {
        "blocked_pattern": Option(DEFAULT_PATTERN, regex(re.IGNORECASE),
                                  "file names to refuse (matched from the "
                                  "start, case-insensitive)"),
    }

    def consider(self, message):
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
