"""
A top-level reference-style module with the older camelCase names.
"""

from courier import control

initialised = []


def initFilter():
    initialised.append(True)


def doFilter(bodyFile, controlFileList):
    recipients = control.getRecipients(controlFileList)
    return "451-Try later\n451 for %d recipients" % len(recipients)
