"""
ratelimitauth: limit how many messages one authenticated user may send.

Every message submitted with SMTP AUTH is counted under its user name;
once more than C{max_connections} were counted within the last C{interval}
minutes the answer is
C{421 User <user> has exceeded sending limits; wait awhile and try again.}
Unauthenticated mail is not counted.

Options (section C{[ratelimitauth.py]}):
  - C{max_connections} (default 50): messages allowed within the window;
  - C{interval} (default 120): the window, in minutes;
  - C{senders_purge_interval} (default 43200): accepted for compatibility;
  - C{on_error} (default C{'451 4.3.0 Temporary failure of the mail
    filter's state store, try again later'}): the reply while the state
    store is unavailable, or C{'continue'}.

Counters live in the state store, apart from ratelimit's.
"""

from pyfilter.engine.options import Option, nonNegativeInteger
from pyfilter.engine.reply import Reply

from filters.ratelimit import RateLimit


class RateLimitAuth(RateLimit):
    table = "ratelimitauth"
    options = {
        "max_connections": Option(50, nonNegativeInteger),
        "interval": Option(120, nonNegativeInteger),
        "senders_purge_interval": Option(60 * 60 * 12, nonNegativeInteger),
    }

    def counted(self, message):
        return message.authUser or None

    def refusal(self, message):
        return Reply("421", f"User {message.authUser} has exceeded sending "
                     "limits; wait awhile and try again.")


FILTER = RateLimitAuth
