"""
A reference-style test module that never answers: do_filter sleeps for
an hour (a legacy filter stuck on a dead server).
"""

import time


def do_filter(body_path, control_paths):
    time.sleep(3600)
    return ""
