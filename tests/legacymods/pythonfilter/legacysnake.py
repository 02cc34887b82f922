"""
A reference-style module: do_filter and init_filter, settings applied from
the modules configuration, answers from courier.config and courier.control.
"""

import courier.config
from courier import config, control

blocked_sender = "nobody@example.org"
initialised = []


def init_filter():
    courier.config.apply_module_config("legacysnake.py", globals())
    initialised.append(True)


def do_filter(body_path, control_paths):
    sender = control.get_sender(control_paths)
    if sender == blocked_sender:
        return "550 Sender %s refused by %s" % (sender, config.me())
    if control.get_auth_user(control_paths):
        return "200 Ok"
    return ""
