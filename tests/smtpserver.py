"""
A real Twisted SMTP server (twisted.mail.smtp.SMTP) on 127.0.0.1, the
dialback filter's call-out target in the tests.

Its C{behaviour} says how it treats a call-out: C{"accept"} (250 to every
recipient), C{"reject"} (550 to RCPT), C{"tempfail"} (450 to RCPT),
C{"rejectHelo"} (550 to HELO), C{"rejectMail"} (550 to MAIL FROM),
C{"hangGreeting"} (accepts the connection and never says anything),
C{"hangRcpt"} (never answers RCPT).  It records every command received.

Run on its own for the end-to-end tests and benchmarks (prints the port,
serves until killed)::

    python -m tests.smtpserver [--behaviour B] [--interface A] [--port P]
"""

import argparse
import sys

from twisted.internet import defer, protocol
from twisted.mail import smtp

BEHAVIOURS = ("accept", "reject", "tempfail", "rejectHelo", "rejectMail",
              "hangGreeting", "hangRcpt")


class _Discard:
    def lineReceived(self, line):
        pass

    def eomReceived(self):
        return defer.succeed(None)

    def connectionLost(self):
        pass


class _CalloutTarget(smtp.SMTP):
    def connectionMade(self):
        self.factory.connections.append(self)
        if self.factory.behaviour != "hangGreeting":
            smtp.SMTP.connectionMade(self)

    def lineReceived(self, line):
        self.factory.received(line.decode("utf-8", "replace"))
        if (self.factory.behaviour == "rejectHelo"
                and line[:4].upper() == b"HELO"):
            self.sendCode(550, b"Go away")
            return
        smtp.SMTP.lineReceived(self, line)

    def validateFrom(self, helo, origin):
        if self.factory.behaviour == "rejectMail":
            raise smtp.SMTPBadSender(origin)
        return origin

    def validateTo(self, user):
        behaviour = self.factory.behaviour
        if behaviour == "reject":
            raise smtp.SMTPBadRcpt(user)
        if behaviour == "tempfail":
            raise smtp.SMTPServerError(450, "Try again later")
        if behaviour == "hangRcpt":
            return defer.Deferred()
        return _Discard

    def connectionLost(self, reason):
        smtp.SMTP.connectionLost(self, reason)
        self.factory.connections.remove(self)
        if not self.factory.connections:
            idle, self.factory.idle = self.factory.idle, []
            for waiter in idle:
                waiter.callback(None)


class SMTPServer(protocol.ServerFactory):
    """
    @ivar port: the TCP port on 127.0.0.1.
    @ivar commands: every command line received, in order.
    """

    protocol = _CalloutTarget

    def __init__(self, reactor, behaviour="accept"):
        self.reactor = reactor
        self.behaviour = behaviour
        self.commands = []
        self.connections = []
        self.idle = []
        self.awaited = []
        self.listening = None

    def start(self, interface="127.0.0.1", port=0):
        self.listening = self.reactor.listenTCP(port, self,
                                                interface=interface)
        self.port = self.listening.getHost().port
        return self

    def received(self, command):
        self.commands.append(command)
        awaited, self.awaited = self.awaited, []
        for expected, waiter in awaited:
            if command == expected:
                waiter.callback(None)
            else:
                self.awaited.append((expected, waiter))

    def whenReceived(self, command):
        """
        A Deferred firing when C{command} has been received.
        """
        if command in self.commands:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self.awaited.append((command, waiter))
        return waiter

    def whenIdle(self):
        """
        A Deferred firing when no connection is open.
        """
        if not self.connections:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self.idle.append(waiter)
        return waiter

    def stop(self):
        """
        Stop listening, close the connections still open and wait for them.
        """
        stopped = defer.maybeDeferred(self.listening.stopListening)
        idle = self.whenIdle()
        for connection in list(self.connections):
            connection.transport.abortConnection()
        return defer.gatherResults([stopped, idle])


def startSMTPServer(testCase, behaviour="accept", interface="127.0.0.1",
                    port=0, reactor=None):
    """
    Start an L{SMTPServer} on the real reactor, stopped when C{testCase}
    ends.
    """
    if reactor is None:
        from twisted.internet import reactor
    server = SMTPServer(reactor, behaviour).start(interface, port)
    testCase.addCleanup(server.stop)
    return server


def main(argv=None):
    from twisted.internet import reactor
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--behaviour", choices=BEHAVIOURS, default="accept")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = SMTPServer(reactor, args.behaviour).start(args.interface,
                                                      args.port)
    print(server.port, flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
