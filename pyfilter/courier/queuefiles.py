"""
Writing a message as Courier queues it for the filters: a data file and a
control file with the envelope (sender, recipients, client address, HELO
name, SMTP AUTH user), for testing filters and for C{pyfilter check} on a
saved message.
"""

import ipaddress
import os

DEFAULT_QUEUE_ID = "0000000000000001.0000000000000001.00000001"


def controlRecords(sender, recipients, ip=None, helo="client.example",
                   auth=None, queueId=DEFAULT_QUEUE_ID):
    """
    The control file's records for an envelope, in Courier's order.

    @param recipients: addresses, or C{(address, original, notify)}
        triplets.
    @param ip: the client's address as text; C{None} for local mail.
    """
    records = [f"s{sender}", f"M{queueId}"]
    if ip is not None:
        address = ipaddress.ip_address(ip)
        recorded = f"::ffff:{address}" if address.version == 4 else str(
            address)
        records += [f"fdns; {helo} ([{recorded}])",
                    f"OTCPREMOTEIP={recorded}"]
    if auth is not None:
        records += [f"i{auth}", "uauthsmtp"]
    for recipient in recipients:
        address, original, notify = (recipient if isinstance(recipient, tuple)
                                     else (recipient, "", ""))
        records += [f"r{address}", f"R{original}", f"N{notify}"]
    return records


def writeQueueFiles(directory, data=None, source=None, **envelope):
    """
    Write C{D1} (the message: C{data} bytes, or a copy of the file
    C{source} with its lines ending in LF, as Courier's data files end
    them) and C{C1} (the control file for C{envelope}, see
    L{controlRecords}) into C{directory}.

    @return: C{(dataPath, controlPath)}.
    @raise OSError: C{source} cannot be read.
    """
    os.makedirs(directory, exist_ok=True)
    dataPath = os.path.join(directory, "D1")
    controlPath = os.path.join(directory, "C1")
    if source is not None:
        with open(source, "rb") as original, open(dataPath, "wb") as copy:
            copyWithLF(original, copy)
    else:
        with open(dataPath, "wb") as f:
            f.write(data)
    with open(controlPath, "wb") as f:
        f.write("".join(line + "\n" for line in controlRecords(**envelope))
                .encode("utf-8"))
    return dataPath, controlPath


def copyWithLF(source, target, chunkSize=65536):
    """
    Copy the open binary file C{source} to C{target}, each CRLF written as
    LF (a saved C{.eml} often has CRLF; Courier's data files have LF).
    """
    pending = b""
    while True:
        chunk = source.read(chunkSize)
        if not chunk:
            target.write(pending)
            return
        chunk = pending + chunk
        # A CR at the end of a chunk may begin a CRLF: keep it for the next.
        pending = b"\r" if chunk.endswith(b"\r") else b""
        target.write(chunk[:len(chunk) - len(pending)].replace(b"\r\n",
                                                                b"\n"))
