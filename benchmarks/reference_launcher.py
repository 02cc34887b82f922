"""
Starts the reference daemon with its modules configuration taken from a
given file instead of C{/etc/pythonfilter-modules.conf}.

The reference's code runs unmodified; only the list of paths its
C{courier.config} reads the modules configuration from is replaced, so a
file left in C{/etc} cannot change a benchmark by accident.

    python reference_launcher.py MODULES_CONF PATH/TO/bin/pythonfilter
"""

import runpy
import sys

import courier.config

courier.config._standard_config_paths = [sys.argv[1]]
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
