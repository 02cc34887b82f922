"""
A reference-style test module that refuses every message with a reply
string embedding its raw Subject header, folded lines included.
"""


def do_filter(body_path, control_paths):
    with open(body_path, "rb") as f:
        head = f.read().split(b"\n\n", 1)[0].decode("latin-1")
    subject = head.split("Subject:", 1)[1].split("\nX-End", 1)[0]
    return "550 Bad subject:" + subject
