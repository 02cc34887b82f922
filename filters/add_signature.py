"""
add_signature: append a signature to mail from authenticated senders.

The signature for a message is chosen by the domain of its SMTP AUTH name:
the text between the first and a second C{@} (C{alice@example.com} →
C{example.com}), or the empty string for a name without C{@}.  If that key
is in C{domains}, the file's text (UTF-8) is appended to the message as a
C{text/plain} MIME part: inserted as a new last part of a
C{multipart/mixed} message, otherwise by wrapping the original content,
unchanged and not re-encoded, as the first part of a new
C{multipart/mixed}; the other headers stay where they are.  Mail without
an auth user, or from a domain without signature, is left alone.  Never
decides (no opinion).

Its options and their defaults: C{pyfilter check --help-filter
add_signature}.

The files are read at start-up (a missing or unreadable file is a
configuration error) and read again when they change; if a changed file
cannot be read, the last text read is used and a warning logged.

Run it before anything that signs outgoing mail with DKIM: the appended part
changes the body.
"""

import os

from pyfilter.config.errors import ConfigError
from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, mapping, string

DEFAULT_DOMAINS = {"example.com": "/etc/courier/signatures/example.com"}


def signatureKey(authUser):
    """
    The C{domains} key for an auth name: between the first and second
    C{@}, or C{""}.
    """
    parts = authUser.split("@")
    return parts[1] if len(parts) > 1 else ""


class _SignatureFile:
    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.text = None

    def _stamp(self):
        info = os.stat(self.path)
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def load(self):
        stamp = self._stamp()
        with open(self.path, encoding="utf-8") as f:
            self.text = f.read()
        self.stamp = stamp

    def current(self, log):
        """
        The text, read again first if the file changed.
        """
        try:
            if self._stamp() != self.stamp:
                self.load()
        except (OSError, UnicodeDecodeError) as e:
            log.warn("add_signature: cannot read {path}, using the text "
                     "read before: {error}", path=self.path, error=e)
        return self.text


class AddSignature(Filter):
    options = {
        "domains": Option(DEFAULT_DOMAINS, mapping(string, string),
                          "domain of the auth name → path of its "
                          "signature file (UTF-8)"),
    }
    onError = None

    def start(self):
        self.signatures = {}
        for domain, path in self.config["domains"].items():
            signature = _SignatureFile(path)
            try:
                signature.load()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"add_signature: signature file for "
                                  f"{domain!r} cannot be read: {e}") from e
            self.signatures[domain] = signature

    def match(self, message):
        authUser = message.authUser
        if not authUser:
            return None
        signature = self.signatures.get(signatureKey(authUser))
        if signature is None:
            return None
        text = signature.current(self.log)
        return message.rewrite(lambda edit: edit.appendSignature(text))


FILTER = AddSignature
