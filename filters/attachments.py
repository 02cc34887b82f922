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

A message too complex to scan completely (beyond the scanner's bounds on
parts, nesting or header size) has every part that was found checked, and
the truncation is logged.  Unlike courier-pythonfilter, this filter does not
look inside archives (the reference's optional libarchive scan).
"""

import re

from pyfilter.filter import Filter, Option, regex
from pyfilter.reply import Reply

DEFAULT_PATTERN = (r"^.*\.(scr|exe|com|bat|pif|lnk|sys|mid|vb|js|ws|shs|ceo"
                   r"|cmd|cpl|hta|vbs)$")

BLACKLISTED = Reply("554", "The extension of the attached file is blacklisted")


class Attachments(Filter):
    options = {
        "blocked_pattern": Option(DEFAULT_PATTERN, regex(re.IGNORECASE),
                                  "file names to refuse (matched from the "
                                  "start, case-insensitive)"),
    }

    def consider(self, message):
        structure = message.structure
        if structure.truncated:
            self.log.warn(
                "message {messageId}: MIME structure beyond the scanner's "
                "bounds, checking the first {count} parts only",
                messageId=message.messageId, count=len(structure.parts))
        pattern = self.config["blocked_pattern"]
        for part in structure.parts:
            if part.isMultipart:
                continue
            name = part.filename
            if name is not None and pattern.match(name):
                self.log.info("message {messageId}: blocked attachment "
                              "{name!r}", messageId=message.messageId,
                              name=name)
                return BLACKLISTED
        return None


FILTER = Attachments
