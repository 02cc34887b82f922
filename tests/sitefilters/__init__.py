"""
Filters written against the filter base, for tests/test_filter.py; found as
top-level modules (the directory is put on the path by the tests).
"""
