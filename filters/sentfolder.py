"""
sentfolder: give authenticated senders a copy of what they send, for their
Sent folder.

For mail submitted with SMTP AUTH, a copy goes to the auth name (with
C{@<me>} appended when it has no C{@}) through Courier's sendmail.  The copy
is the original message with two lines (LF line ends, like Courier's data
files) put in front:

  - C{X-Deliver-To-Sent-Folder: <siteid>}, for a global maildrop rule such
    as C{if (/^X-Deliver-To-Sent-Folder: <siteid>/) to "$DEFAULT/.Sent/"};
  - C{Bcc: <addresses>}, listing the envelope recipients that are not in
    the message's To, Cc, Resent-To or Resent-Cc headers (each by its
    original address, without the C{rfc822;} prefix, when it has one).

Mail without an auth user is left alone.  Never decides (no opinion): a
failed copy is logged and the message goes on.

Its options and their defaults: C{pyfilter check --help-filter
sentfolder}.  Change C{siteid} from its default, or anyone can file mail
into your users' Sent folders.

Put it last in the chain, so that no copy is made of mail that a later
filter refuses.  The copy is built completely before sendmail starts; the
auth name is checked before it is used as an argument and sendmail's exit
status is checked.
"""

import email.utils

from pyfilter.engine.filter import Filter
from pyfilter.engine.options import Option, string
from pyfilter.courier.sendmail import Sendmail

DEFAULT_SITEID = "69f7dc20-7aef-420b-a8d2-85ea229f97ba"
_ORCPT_PREFIX = "rfc822;"
_ADDRESS_HEADERS = ("To", "Cc", "Resent-To", "Resent-Cc")


def blindRecipients(message):
    """
    The envelope recipients not named in the address headers, each by its
    original address if it has one, in order and without repetition.
    """
    named = {address.lower() for _, address in email.utils.getaddresses(
        [value for name in _ADDRESS_HEADERS
         for value in message.header(name)])}
    blind = []
    for recipient in message.recipients:
        address = recipient.original or recipient.address
        if address[:len(_ORCPT_PREFIX)].lower() == _ORCPT_PREFIX:
            address = address[len(_ORCPT_PREFIX):]
        if address.lower() not in named and address not in blind:
            blind.append(address)
    return blind


class SentFolder(Filter):
    options = {
        "siteid": Option(DEFAULT_SITEID, string,
                         "value of the X-Deliver-To-Sent-Folder header; "
                         "change it, or anyone can file mail into your "
                         "users' Sent folders"),
    }
    onError = None

    def __init__(self, config, context):
        super().__init__(config, context)
        self.sendmail = Sendmail(context.reactor,
                                 context.paths.sendmailProgram)

    def copyOf(self, message):
        """
        The bytes of the copy: marker, Bcc line if needed, the message.
        """
        lines = [f"X-Deliver-To-Sent-Folder: {self.config['siteid']}\n"]
        blind = blindRecipients(message)
        if blind:
            lines.append(f"Bcc: {', '.join(blind)}\n")
        with open(message.dataPath, "rb") as f:
            return "".join(lines).encode("utf-8") + f.read()

    def match(self, message):
        authUser = message.authUser
        if not authUser:
            return None
        recipient = authUser if "@" in authUser else (
            f"{authUser}@{self.context.courier.me()}")
        copy = self.copyOf(message)
        try:
            d = self.sendmail.send([recipient], copy)
        except ValueError as e:
            self.log.warn("sentfolder: no copy of message {messageId}: "
                          "{error}", messageId=message.messageId, error=e)
            return None
        d.addCallbacks(lambda _: None, self._failed,
                       errbackArgs=(message, recipient))
        return d

    def _failed(self, failure, message, recipient):
        self.log.error("sentfolder: copy of message {messageId} to "
                       "{recipient} failed: {error}",
                       messageId=message.messageId, recipient=recipient,
                       error=failure.getErrorMessage())
        return None


FILTER = SentFolder
