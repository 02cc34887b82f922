"""
Holding messages instead of delivering them, with release by mail.

Configuration: section C{[quarantine]} of the modules file, as the
reference's, with defaults for what is absent:

  - C{siteid} (default C{'local'}): part of the release address;
  - C{dir} (default C{<state dir>/quarantine}): where held messages live;
  - C{days} (default 14): how long they are kept (C{pyfilter quarantine
    purge}, daily from cron, removes older ones);
  - C{notify_recipient} (default true): send each recipient a notice;
  - C{also_notify} (default none): an address that gets a copy of every
    notice;
  - C{user_release} (default true): 0 together with C{also_notify} keeps
    recipients from releasing by themselves: their notice names the
    C{also_notify} address instead, and only that copy carries the release
    address.

L{quarantine} copies the data and control files into a new entry
C{<dir>/<id>/} (written under a temporary name, fsync'ed, then renamed:
it appears whole or not at all) with C{entry.json} describing it; then
marks every recipient delivered in one control file edit; then sends the
notices through Courier's sendmail.  Any failure fails the Deferred, so the
filter answers a temporary failure instead of delivering.

Release: every recipient has its own release address,
C{quarantine-<siteid>-<token>@<me>}, where the token is the entry's random
id (96 bits), the recipient's number and an HMAC of both keyed by the site
id and a secret kept in the state directory (C{quarantine.key}, created on
first use, mode 0600).  A token cannot be guessed or forged, so mailing it
releases the message to that recipient only, whoever the envelope sender
claims to be, and a wrong token gets no answer (no backscatter).  For this,
Courier needs C{<sysconfdir>/aliasdir/.courier-quarantine-<siteid>-default}
with C{| /path/to/pyfilter quarantine release}.  Entries stay until purged,
so a release can be repeated.

A released message is submitted through Courier's sendmail with one header
line added, C{X-Quarantine-Released: <id> <mac>}.  When Courier filters
local mail (C{enablefiltering} lists C{local}), the release comes back
through the filter that held it; L{quarantine} then lets it pass instead of
holding it again, but only when the mark is genuine (an HMAC of the entry id
under the quarantine key), names a held entry, and the message's body is
byte for byte the held message's body: the mark cannot be forged, nor moved
onto other mail.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from pyfilter.courier import headerblock
from pyfilter.courier import mime
from pyfilter.config.errors import ConfigError
from pyfilter.engine.options import (
    boolean,
    nonNegativeInteger,
    optional,
    string)
from pyfilter.files import giveToDirectoryOwner
from pyfilter.files import fsyncPath
from pyfilter.courier.sendmail import Sendmail

SECTION = "quarantine"
KEY_FILE = "quarantine.key"
RELEASED_HEADER = "X-Quarantine-Released"
ENTRY_FILE = "entry.json"
DATA_FILE = "message"

_ID_BYTES = 12
_MAC_BYTES = 8

log = Logger()


@dataclass(frozen=True)
class Settings:
    siteid: str
    directory: str
    days: int
    notifyRecipient: bool
    alsoNotify: str
    userRelease: bool

    @classmethod
    def fromModules(cls, modules, stateDir):
        """
        The C{[quarantine]} section, checked, with defaults.

        @raise ConfigError: a value has the wrong type.
        """
        section = modules.section(SECTION)
        specs = {"siteid": ("local", string),
                 "dir": (os.path.join(stateDir, "quarantine"), string),
                 "days": (14, nonNegativeInteger),
                 "notify_recipient": (True, boolean),
                 "also_notify": (None, optional(string)),
                 "user_release": (True, boolean)}
        values = {}
        for name, (default, check) in specs.items():
            value = section.get(name, default)
            try:
                values[name] = check(value)
            except ValueError as e:
                raise ConfigError(modules.where(SECTION, name)
                                  + f": {e}, got {value!r}") from e
        if not values["siteid"] or not all(
                c.isalnum() or c in "-_." for c in values["siteid"]):
            raise ConfigError(modules.where(SECTION, "siteid")
                              + ": letters, digits, '-', '_' and '.' only")
        return cls(values["siteid"], values["dir"], values["days"],
                   values["notify_recipient"], values["also_notify"] or "",
                   values["user_release"])


def loadKey(stateDir):
    """
    The secret for release tokens, created (32 random bytes, mode 0600) on
    first use.  Created by root (an administrator's C{pyfilter quarantine}),
    it is given to the owner of C{stateDir}, the daemon's user.
    """
    path = os.path.join(stateDir, KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) < 32:
            raise ConfigError(f"{path}: quarantine key is too short")
        return key
    key = secrets.token_bytes(32)
    giveToDirectoryOwner(stateDir, [KEY_FILE])
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


def _b32(data):
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


_ID_LENGTH = len(_b32(b"\0" * _ID_BYTES))
_MAC_LENGTH = len(_b32(b"\0" * _MAC_BYTES))


def _copyDurably(source, target):
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())


@dataclass
class Entry:
    """
    One held message, as described by its C{entry.json}.
    """
    id: str
    time: float
    explanation: str
    sender: str
    fromHeader: str
    subject: str
    recipients: list
    directory: str

    @classmethod
    def read(cls, directory):
        with open(os.path.join(directory, ENTRY_FILE), encoding="utf-8") as f:
            data = json.load(f)
        return cls(data["id"], float(data["time"]), data["explanation"],
                   data["sender"], data["from"], data["subject"],
                   data["recipients"], directory)

    def toJSON(self):
        return json.dumps({"id": self.id, "time": self.time,
                           "explanation": self.explanation,
                           "sender": self.sender, "from": self.fromHeader,
                           "subject": self.subject,
                           "recipients": self.recipients}, indent=1)

    @property
    def dataPath(self):
        return os.path.join(self.directory, DATA_FILE)


class Quarantine:
    """
    The quarantine store and its release addresses.
    """

    log = Logger()

    def __init__(self, settings, key, me, sendmail, clock=time.time):
        self.settings = settings
        self.key = key
        self.me = me
        self.sendmail = sendmail
        self.clock = clock

    # Tokens and addresses

    def _mac(self, text):
        mac = hmac.new(self.key + self.settings.siteid.encode("utf-8"),
                       text.encode("ascii"), hashlib.sha256).digest()
        return _b32(mac[:_MAC_BYTES])

    def token(self, entryId, number):
        body = f"{entryId}{number}"
        return body + self._mac(body)

    def releaseMark(self, entryId):
        """
        The value of the L{RELEASED_HEADER} line of a release of
        C{entryId}.
        """
        return f"{entryId} {self._mac('released ' + entryId)}"

    def parseToken(self, token):
        """
        C{(entry id, recipient number)} for a genuine token, else C{None}.
        """
        token = token.strip().lower()
        entryId = token[:_ID_LENGTH]
        number = token[_ID_LENGTH:-_MAC_LENGTH]
        if (len(token) <= _ID_LENGTH + _MAC_LENGTH or not number.isdigit()
                or not entryId.isalnum()):
            return None
        if not hmac.compare_digest(self.token(entryId, int(number)), token):
            return None
        return entryId, int(number)

    def releaseAddress(self, entryId, number):
        return (f"quarantine-{self.settings.siteid}-"
                f"{self.token(entryId, number)}@{self.me}")

    # The store (blocking; the daemon runs these in its thread pool)

    def hold(self, message, explanation):
        """
        Copy C{message} into a new entry and mark its recipients delivered.

        @return: the L{Entry}.
        """
        directory = self.settings.directory
        os.makedirs(directory, mode=0o750, exist_ok=True)
        entryId = _b32(secrets.token_bytes(_ID_BYTES))
        temporary = os.path.join(directory, f".new-{entryId}")
        final = os.path.join(directory, entryId)
        headers = {name: headerblock.displayText(" ".join(
                       message.header(name))) for name in ("From", "Subject")}
        entry = Entry(
            entryId, self.clock(), explanation, message.sender or "",
            headers.get("From", ""), headers.get("Subject", ""),
            [{"address": r.address, "original": r.original,
              "raw": base64.b64encode(r.rawAddress).decode("ascii")}
             for r in message.recipients], final)
        os.mkdir(temporary, 0o750)
        try:
            _copyDurably(message.dataPath, os.path.join(temporary, DATA_FILE))
            for index, path in enumerate(message.controlPaths):
                _copyDurably(path, os.path.join(temporary, f"control.{index}"))
            with open(os.path.join(temporary, ENTRY_FILE), "w",
                      encoding="utf-8") as f:
                f.write(entry.toJSON())
                f.flush()
                os.fsync(f.fileno())
            fsyncPath(temporary)
            os.rename(temporary, final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        fsyncPath(directory)
        edits = message.editControl(self.clock)
        for recipient in message.recipients:
            edits.markDone(recipient, f"quarantined as {entryId}")
        edits.commit()
        return entry

    def releasedEntry(self, message):
        """
        The L{Entry} that C{message} is a release of, or C{None}: it must
        carry a genuine release mark naming a held entry, and have that
        entry's body, byte for byte.
        """
        for value in message.header(RELEASED_HEADER):
            words = str(value).split()
            if (len(words) != 2 or not words[0].isascii()
                    or not hmac.compare_digest(
                        self.releaseMark(words[0]).encode("ascii"),
                        " ".join(words).encode("utf-8"))):
                continue
            entry = self.entry(words[0])
            if entry is not None and (mime.bodyDigest(message.dataPath)
                                      == mime.bodyDigest(entry.dataPath)):
                return entry
        return None

    def holdUnlessReleased(self, message, explanation):
        """
        L{hold} C{message}, unless it is a release of a held message.

        @return: the new L{Entry}, or C{None} for a release.
        """
        released = self.releasedEntry(message)
        if released is not None:
            self.log.info("quarantine: message {messageId} is a release of "
                          "{id}, not held again",
                          messageId=message.messageId, id=released.id)
            return None
        return self.hold(message, explanation)

    def entries(self):
        """
        Every held L{Entry}, oldest first.
        """
        directory = self.settings.directory
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith("."):
                continue
            try:
                found.append(Entry.read(os.path.join(directory, name)))
            except (OSError, ValueError, KeyError) as e:
                self.log.warn("quarantine: unreadable entry {name}: {error}",
                              name=name, error=e)
        return sorted(found, key=lambda entry: entry.time)

    def entry(self, entryId):
        if not entryId.isalnum():
            return None
        try:
            return Entry.read(os.path.join(self.settings.directory, entryId))
        except (OSError, ValueError, KeyError):
            return None

    def purge(self):
        """
        Remove entries older than C{days}, and unfinished ones.

        @return: the ids removed.
        """
        limit = self.clock() - self.settings.days * 86400
        removed = []
        for entry in self.entries():
            if entry.time < limit:
                shutil.rmtree(entry.directory, ignore_errors=True)
                removed.append(entry.id)
        directory = self.settings.directory
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if (name.startswith(".new-")
                        and os.stat(path).st_mtime < limit):
                    shutil.rmtree(path, ignore_errors=True)
        return removed

    # Mail

    def expiry(self, entry):
        date = datetime.date.fromtimestamp(entry.time + self.settings.days
                                           * 86400)
        return date.strftime("%a %B %d, %Y")

    def notice(self, entry, recipient, releaseAddress):
        """
        The bytes of a notice to C{recipient}.
        """
        header = (f"From: Mail Quarantine System <postmaster@{self.me}>\r\n"
                  f"To: <{recipient}>\r\n"
                  f"Subject: Quarantine notice\r\n"
                  f"MIME-Version: 1.0\r\n"
                  f'Content-Type: text/plain; charset="utf-8"\r\n'
                  f"Content-Transfer-Encoding: 8bit\r\n\r\n")
        body = (
            f"You received a message that was quarantined because:\n"
            f"{entry.explanation}\n\n"
            f"It will be held until {self.expiry(entry)}.\n\n"
            f"The message says it is from \"{entry.fromHeader}\" (this "
            f"may be forged) and its subject is \"{entry.subject}\".\n\n"
            f"Releasing a message you do not expect can harm your "
            f"computer.  If you are sure you want it, forward this notice "
            f"to the release address below and the message will be "
            f"delivered to you.\n\n"
            f"Quarantine release address: {releaseAddress}\n")
        return (header + body).encode("utf-8")

    def notices(self, entry):
        """
        C{(envelope recipient, message bytes)} for every notice to send.
        """
        settings = self.settings
        selfRelease = settings.userRelease or not settings.alsoNotify
        notices = []
        for number, recipient in enumerate(entry.recipients):
            address = recipient["address"]
            real = self.releaseAddress(entry.id, number)
            if settings.notifyRecipient:
                shown = real if selfRelease else settings.alsoNotify
                notices.append((address, self.notice(entry, address, shown)))
            if settings.alsoNotify:
                notices.append((settings.alsoNotify,
                                self.notice(entry, address, real)))
        return notices

    def sendNotices(self, entry):
        """
        Send every notice; a Deferred that fails if any submission failed.
        """
        sends = [self.sendmail.send([to], notice)
                 for to, notice in self.notices(entry)]
        return defer.gatherResults(sends, consumeErrors=True).addCallback(
            lambda _: entry)

    def release(self, token):
        """
        Deliver the held message to the recipient that C{token} names.

        @return: a Deferred firing with the address it was sent to, or
            C{None} when the token is not genuine or the entry is gone.
        """
        parsed = self.parseToken(token)
        if parsed is None:
            self.log.warn("quarantine: release refused, invalid token "
                          "{token!r}", token=token)
            return defer.succeed(None)
        entry = self.entry(parsed[0])
        if entry is None or parsed[1] >= len(entry.recipients):
            self.log.warn("quarantine: release of {id}: no such entry (it "
                          "may have expired)", id=parsed[0])
            return defer.succeed(None)
        return self.releaseTo(entry, [entry.recipients[parsed[1]]])

    def releaseTo(self, entry, recipients):
        """
        Send the held message, unchanged but for the release mark in front
        of it, to C{recipients} (entries of C{entry.recipients}).
        """
        mark = f"{RELEASED_HEADER}: {self.releaseMark(entry.id)}\n"
        with open(entry.dataPath, "rb") as f:
            data = mark.encode("ascii") + f.read()
        addresses = [r["address"] for r in recipients]
        d = self.sendmail.send(addresses, data)
        d.addCallback(lambda _: addresses)
        return d


def forContext(context):
    """
    The daemon's one L{Quarantine}, made on first use.

    @raise ConfigError: the C{[quarantine]} section is wrong.
    """
    def create():
        settings = Settings.fromModules(context.modules, context.stateDir)
        return Quarantine(settings, loadKey(context.stateDir),
                          context.courier.me(),
                          Sendmail(context.reactor,
                                   context.paths.sendmailProgram))
    return context.shared(
        ("quarantine", context.modules.fingerprint(SECTION),
         context.stateDir, context.courier.me()), create)


def quarantine(context, message, explanation):
    """
    Hold C{message} (a L{pyfilter.engine.message.Message}) in the quarantine,
    mark its recipients delivered and notify them.

    @return: a Deferred firing with the entry id once everything is done,
        or with C{None} when C{message} is a release of a held message (it
        is not held again: the caller should let it pass); it fails if
        anything failed, and the caller must then refuse the message with a
        temporary failure.
    """
    try:
        store = forContext(context)
    except Exception:
        return defer.fail()
    d = context.threads.run(store.holdUnlessReleased, message, explanation)
    d.addCallback(lambda entry: entry and store.sendNotices(entry))
    d.addCallback(lambda entry: entry and _held(message, entry))
    return d


def _held(message, entry):
    log.info("quarantine: message {messageId} held as {id}",
             messageId=message.messageId, id=entry.id)
    return entry.id
