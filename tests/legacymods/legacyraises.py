"""
A reference-style module whose do_filter raises.
"""


def do_filter(body_path, control_paths):
    raise RuntimeError("broken module")
