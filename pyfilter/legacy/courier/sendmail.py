"""
The reference's C{courier.sendmail} for legacy filter modules.

C{sendmail(mail_from, rcpt_to, message_chunks)} submits a message through
Courier's sendmail (C{--enable-sendmail}'s path, else C{<bindir>/sendmail}): C{-f mail_from} when it is not empty, then
the recipient (a string) or recipients (a list).  Unlike the reference, the
message is assembled completely before sendmail starts, addresses that
sendmail could take for options are refused (L{ValueError}), the recipients
follow sendmail's end-of-options marker, the call has a timeout, and a
failure raises L{pyfilter.courier.sendmail.SendmailError} instead of passing
silently.  It blocks, so call it from legacy code only (which runs in the
daemon's thread pool); pyfilter's own filters use L{pyfilter.courier.sendmail}.
"""

import subprocess

from pyfilter.legacy.courier import config
from pyfilter.courier.sendmail import DEFAULT_TIMEOUT, SendmailError, sendmailArguments


def sendmail(mail_from, rcpt_to, message_chunks):
    recipients = [rcpt_to] if isinstance(rcpt_to, str) else list(rcpt_to)
    program = config.sendmailProgram
    arguments = sendmailArguments(program, recipients, mail_from)
    message = b"".join(chunk.encode("utf-8") if isinstance(chunk, str)
                       else bytes(chunk) for chunk in message_chunks)
    try:
        result = subprocess.run(arguments, input=message, capture_output=True,
                                timeout=DEFAULT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SendmailError(f"sendmail failed: {e}") from e
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode("utf-8", "replace")
        raise SendmailError(f"sendmail exited with status "
                            f"{result.returncode}: {output.strip()}")
