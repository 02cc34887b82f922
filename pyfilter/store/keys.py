"""
The keys of the store's entries: tuples of texts made into one key, and
the client networks greylist and ratelimit count by; with the reference's
forms of both, found in state imported from it.
"""

import hashlib
import ipaddress


def tupleKey(*parts):
    """
    The key of a tuple of texts: a digest of an unambiguous encoding (each
    part preceded by its length), so that distinct tuples never share a key.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        encoded = part.encode("utf-8", "surrogateescape")
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def referenceKey(*parts):
    """
    The reference's key for the same tuple: the hex MD5 of the parts
    concatenated without separator (found only in imported entries).
    """
    joined = "".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.md5(joined, usedforsecurity=False).hexdigest()


def clientNetwork(address, ipv4Prefix=24, ipv6Prefix=48):
    """
    The network of C{address} (an L{ipaddress} address) as text, such as
    C{192.0.2.0/24}.
    """
    prefix = ipv4Prefix if address.version == 4 else ipv6Prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def referenceNetwork(address):
    """
    The reference's text for the same /24 or /48: C{192.0.2} or
    C{2001:0db8:0000}, as found in its keys.
    """
    if address.version == 4:
        return str(address).rsplit(".", 1)[0]
    return address.exploded[:14]
