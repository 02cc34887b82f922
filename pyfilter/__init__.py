"""
pyfilter: an asynchronous mail policy daemon for the Courier MTA.
"""

__version__ = "0.1.0"
