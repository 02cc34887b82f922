"""
The reference's C{courier.xfilter} for legacy filter modules: load the
message, change it as an L{email.message.Message}, write it back.

C{XFilter(filter_name, body_path, control_paths)} parses the data file
(binary parser, compat32 policy, as the reference); a parse failure raises
L{InitError}.  C{get_message()}/C{set_message(msg)} give access to the
message object, C{get_control_data()} to the control data.  C{submit()}
serialises the message (no C{>From} mangling, a final newline ensured) and
replaces the data file atomically through L{pyfilter.courier.rewrite.replaceFile}
(temporary file, fsync, rename), instead of the reference's truncate and
write in place; it returns C{''}.  L{DummyXFilter.submit} does nothing.

A full parse and serialisation can change header folding and encodings;
new code should use L{pyfilter.courier.rewrite}, which changes only what it means
to.
"""

import email.generator
import email.parser

from pyfilter.legacy.courier import control
from pyfilter.courier.rewrite import replaceFile


class InitError(Exception):
    """
    The message could not be loaded.
    """


class XFilter:
    def __init__(self, filter_name, body_path, control_paths):
        self.filter_name = filter_name
        self.body_path = body_path
        self.control_paths = control_paths
        try:
            with open(body_path, "rb") as f:
                self.message = email.parser.BytesParser().parse(f)
        except Exception as e:
            raise InitError(f"Internal failure parsing message data file: "
                            f"{e}") from e
        self.control_data = control.get_control_data(control_paths)

    def get_message(self):
        return self.message

    def set_message(self, msg):
        self.message = msg

    def get_control_data(self):
        return self.control_data

    def submit(self):
        def write(source, target):
            ending = _LastByte(target)
            email.generator.BytesGenerator(ending, mangle_from_=False).flatten(
                self.message)
            if ending.last != b"\n":
                target.write(b"\n")

        replaceFile(self.body_path, write)
        return ""


class DummyXFilter(XFilter):
    def submit(self):
        return ""


class _LastByte:
    """
    A writer that passes bytes on and remembers the last one.
    """

    def __init__(self, target):
        self.target = target
        self.last = b""

    def write(self, data):
        if data:
            self.target.write(data)
            self.last = bytes(data[-1:])
