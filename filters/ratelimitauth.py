"""
ratelimitauth: limit how many messages one authenticated user may send.

Every message submitted with SMTP AUTH is counted under its user name;
once more than C{max_connections} were counted within the last C{interval}
minutes the answer is
C{421 User <user> has exceeded sending limits; wait awhile and try again.}
Unauthenticated mail is not counted.

Its options and their defaults:
C{pyfilter check --help-filter ratelimitauth}.

Counters live in the state store, apart from ratelimit's.
"""

from pyfilter.engine.options import Option, nonNegativeInteger
from pyfilter.engine.reply import Reply

from filters.ratelimit import RateLimit


class RateLimitAuth(RateLimit):
    table = "ratelimitauth"
    options = {
        "max_connections": Option(
            50, nonNegativeInteger, "messages allowed within the window"),
        "interval": Option(
            120, nonNegativeInteger, "the window, in whole minutes"),
        "senders_purge_interval": Option(
            60 * 60 * 12, nonNegativeInteger,
            "accepted for compatibility; old counters are removed by the "
            "store's background purge"),
    }

    def counted(self, message):
        return message.authUser or None

    def refusal(self, message):
        return Reply("421", f"User {message.authUser} has exceeded sending "
                     "limits; wait awhile and try again.")


FILTER = RateLimitAuth
