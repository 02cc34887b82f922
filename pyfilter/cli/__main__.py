"""
C{python -m pyfilter.cli}: the C{pyfilter} command.
"""

import sys

from pyfilter.cli import main

sys.exit(main())
