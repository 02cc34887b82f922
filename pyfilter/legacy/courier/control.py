"""
The reference's C{courier.control}: reading and editing a message's control
files, for filter modules written for courier-pythonfilter.

Readers parse the files with L{pyfilter.courier.control.ControlFiles}, so values are
decoded exactly as pyfilter's own filters see them.  Writers go through
L{pyfilter.courier.controledit}, which writes whole, checked records safely instead
of the reference's unlocked text appends.

Differences from the reference, all fixes: C{get_lines}' C{max} bounds the
total number of values (the reference applied it per file); a malformed
client address raises an error that is both a C{ValueError} (as the
reference's) and a L{ControlFileError}, so an uncaught one is answered
C{451 Internal failure locating control files}; recipients are numbered as
Courier numbers them.
"""

from pyfilter.courier import controledit
from pyfilter.courier.control import ControlFileError, ControlFiles


class MalformedAddressError(ControlFileError, ValueError):
    """
    The control files record a client address that is not an IP address.
    """


def _read(controlPaths):
    return ControlFiles.read(list(controlPaths))


def get_lines(control_paths, key, max=0):
    """
    The values of every record starting with C{key}, across the files in
    order; at most C{max} of them when C{max} is positive.
    """
    found = _read(control_paths).values(key)
    return found[:max] if max > 0 else found


def get_sender(control_paths):
    """
    The envelope sender (C{""} for the null sender), or C{None}.
    """
    return _read(control_paths).first("s")


def get_senders_mta(control_paths):
    """
    The C{f} record (C{dns; helo (rdns [ip])}), or C{None}.
    """
    return _read(control_paths).first("f")


def get_senders_ip(control_paths):
    """
    The client's IP address as text (IPv4-mapped IPv6 given as IPv4), or
    C{None} for local submissions.

    @raise MalformedAddressError: the recorded address is not an IP address.
    """
    control = _read(control_paths)
    try:
        address = control.remoteIP()
    except ControlFileError as e:
        raise MalformedAddressError(str(e)) from e
    return None if address is None else str(address)


def get_auth_user(control_paths):
    """
    The SMTP AUTH name, or C{None} for unauthenticated mail.
    """
    return _read(control_paths).first("i")


def get_recipients(control_paths):
    """
    The addresses of the recipients not yet delivered.
    """
    return [recipient.address for recipient in _read(control_paths).recipients]


def _recipientsData(control):
    return [list(recipient.triple) for recipient in control.recipients]


def get_recipients_data(control_paths):
    """
    C{[address, original, notify]} for each recipient not yet delivered.
    """
    return _recipientsData(_read(control_paths))


#: Message-level records of L{get_control_data} and their defaults.
_SCALAR_DEFAULTS = {"s": "", "f": "", "e": None, "M": None, "i": None,
                    "t": None, "E": None, "p": None, "W": None, "v": None,
                    "X": None, "u": None, "U": ""}
_FLAGS = "w8mVT"


def get_control_data(control_paths):
    """
    The message-level records of the first control file (the last value of
    each), its flags as booleans, and C{r}: every undelivered recipient as
    L{get_recipients_data} gives it (C{[address, original, notify]}).
    """
    control = _read(control_paths)
    data = {letter: control.scalar(letter, default)
            for letter, default in _SCALAR_DEFAULTS.items()}
    data.update((letter, control.flag(letter)) for letter in _FLAGS)
    data["r"] = _recipientsData(control)
    return data


def add_recipient(control_paths, recipient):
    """
    Add a recipient with no original address and default DSN.
    """
    add_recipient_data(control_paths, [recipient, "", ""])


def add_recipient_data(control_paths, data):
    """
    Add a recipient given as C{[address, original, notify]}.

    @raise ValueError: C{data} does not have three items, or a value the
        control file cannot hold.
    """
    if len(data) != 3:
        raise ValueError("recipient data must be [address, original, notify]")
    address, original, notify = data
    controledit.addRecipient(list(control_paths), address, original=original,
                             notify=notify)


def del_recipient(control_paths, recipient):
    """
    Mark the first undelivered recipient with address C{recipient} as
    delivered; nothing happens if there is none.
    """
    _markFirst(control_paths, lambda found: found.address == recipient)


def del_recipient_data(control_paths, data):
    """
    Mark the first undelivered recipient whose C{[address, original,
    notify]} equals C{data} as delivered; nothing happens if there is none.
    """
    wanted = tuple(data)
    _markFirst(control_paths, lambda found: found.triple == wanted)


def _markFirst(control_paths, matches):
    for recipient in _read(control_paths).recipients:
        if matches(recipient):
            controledit.markDone(list(control_paths), recipient)
            return


getLines = get_lines
getSender = get_sender
getSendersMta = get_senders_mta
getSendersIP = get_senders_ip
getAuthUser = get_auth_user
getRecipients = get_recipients
getRecipientsData = get_recipients_data
getControlData = get_control_data
addRecipient = add_recipient
addRecipientData = add_recipient_data
delRecipient = del_recipient
delRecipientData = del_recipient_data
