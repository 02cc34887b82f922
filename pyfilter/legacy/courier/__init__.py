"""
Compatible replacements for the reference's C{courier} helper modules, for
filter modules written for courier-pythonfilter.
"""
