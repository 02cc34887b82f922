"""
A reference-style module whose start-up hook exits, as some do on bad
configuration.
"""

import sys


def init_filter():
    sys.exit(1)


def do_filter(body_path, control_paths):
    return ""
