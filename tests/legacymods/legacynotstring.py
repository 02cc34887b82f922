"""
A reference-style module whose do_filter returns something not a string.
"""


def do_filter(body_path, control_paths):
    return 550
