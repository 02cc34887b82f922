"""
The C{pyfilter} command: administration tools, one module each.
"""

import importlib
import sys

COMMANDS = {
    "check": ("pyfilter.cli.check", "run the chain once over a message"),
    "courier-install": ("pyfilter.cli.courierinstall",
                        "install pyfilter as a Courier filter"),
    "import-state": ("pyfilter.cli.importstate",
                     "import the reference's dbm state files"),
    "quarantine": ("pyfilter.cli.quarantine",
                   "list, release or purge quarantined messages"),
    "reload": ("pyfilter.cli.reload",
               "make the running daemon read its configuration again"),
    "rspamd": ("pyfilter.cli.rspamdlearn",
               "learn-spam|learn-ham FILE...: train rspamd"),
    "status": ("pyfilter.cli.status", "what the running daemon is doing"),
}


def usage(stream):
    stream.write("usage: pyfilter COMMAND [options]\n\ncommands:\n")
    for name, (_, summary) in COMMANDS.items():
        stream.write(f"  {name:16} {summary}\n")
    stream.write("\nThe daemon itself runs as `twistd -n pyfilter`.\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        usage(sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        sys.stderr.write(f"pyfilter: unknown command {argv[0]!r}\n")
        usage(sys.stderr)
        return 2
    return importlib.import_module(command[0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
