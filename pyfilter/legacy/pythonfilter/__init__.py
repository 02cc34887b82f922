"""
The reference's C{pythonfilter} package as legacy modules see it when no
C{pythonfilter} package of the admin's is on the path: only
L{pyfilter.legacy.pythonfilter.ttldb}, pyfilter's own filters being in
C{filters}.
"""
