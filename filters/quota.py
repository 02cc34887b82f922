"""
quota: refuse mail for a local mailbox that is over its Maildir++ quota.

For each recipient in a local domain (the local part) or a hosted domain
(the whole address), courier-authdaemond gives the account's home and
maildir; the quota and usage come from the maildir's C{maildirsize} (its
first line: C{<bytes>S} and/or C{<count>C} limits; then lines of
C{<bytes> <count>} that add up to the usage).  A mailbox is over quota when
its usage reaches a limit.  An unknown account or a missing or unreadable
C{maildirsize} is not over quota.  A relative maildir (authdaemond's usual
C{./Maildir}) is taken in the account's home (the reference resolved it
against its own working directory).  The size of the incoming message is
not counted, as in the reference.  The authdaemond socket comes from section
C{[authdaemon.py]} (see L{pyfilter.clients.authdaemond}).

Its options and their defaults: C{pyfilter check --help-filter quota}.
When authdaemond cannot answer the filter answers its C{on_error},
C{{reason}} replaced by the reason (the reference's name
C{unavailable_reply} is read too, C{''} letting mail pass unchecked).

Reply: C{421 User "<user>" is over quota} for the first recipient over
quota (the reference's text and code; the whole message is deferred, as
Courier's filters decide for all recipients at once).
"""

import os

from twisted.internet import defer

from pyfilter.bases.authdaemond import AuthdaemondFilter
from pyfilter.engine.reply import Reply
from pyfilter.files import readAtMost

#: maildirsize files larger than this are not read (Courier recalculates
#: them long before: past 5120 bytes).
MAX_MAILDIRSIZE = 1024 * 1024


def maildirsizePath(account):
    home = account.get("HOME", "")
    maildir = account.get("MAILDIR")
    if maildir:
        return os.path.join(home, maildir, "maildirsize")
    return os.path.join(home, "Maildir", "maildirsize")


def parseMaildirsize(text):
    """
    C{(byteLimit, countLimit, bytesUsed, countUsed)} from a maildirsize
    file's text (a limit is C{None} when absent); raise L{ValueError} when
    malformed.
    """
    lines = text.split("\n")
    byteLimit = countLimit = None
    for item in lines[0].strip().split(","):
        if item.endswith("S"):
            byteLimit = int(item[:-1])
        elif item.endswith("C"):
            countLimit = int(item[:-1])
        else:
            raise ValueError(f"bad quota item {item!r}")
    usedBytes = usedCount = 0
    for line in lines[1:]:
        if line.strip():
            size, count = line.split()
            usedBytes += int(size)
            usedCount += int(count)
    return byteLimit, countLimit, usedBytes, usedCount


def overQuota(path):
    """
    Whether the maildirsize file at C{path} shows the mailbox over quota;
    C{False} when it cannot be read or parsed.  (Blocking: run in a thread.)
    """
    try:
        with open(path, "rb") as f:
            text = readAtMost(f, MAX_MAILDIRSIZE)
        if len(text) > MAX_MAILDIRSIZE:
            return False
        byteLimit, countLimit, usedBytes, usedCount = parseMaildirsize(
            text.decode("ascii"))
    except (OSError, ValueError):
        return False
    return ((byteLimit is not None and usedBytes >= byteLimit)
            or (countLimit is not None and usedCount >= countLimit))


class Quota(AuthdaemondFilter):
    onError = "451 Cannot check mailbox quotas now, try again later"

    def match(self, message):
        return defer.Deferred.fromCoroutine(self._match(message))

    async def _match(self, message):
        seen = set()
        for recipient in message.recipients:
            name = self.accountName(recipient.address)
            if name is None or name in seen:
                continue
            seen.add(name)
            account = await self.account(name)
            if account is None:
                self.log.info('quota filter: authdaemon failed to look up '
                              '"{name}"', name=name)
                continue
            if await self.context.threads.run(overQuota,
                                              maildirsizePath(account)):
                return Reply("421", f'User "{name}" is over quota')
        return None


FILTER = Quota
