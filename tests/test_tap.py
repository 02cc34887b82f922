import os
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from pyfilter.engine import loader
from pyfilter.config import locations
from pyfilter.daemon import twistd
from pyfilter.courier.paths import DEBIAN, CourierPaths, parseCourierConfig
from pyfilter.daemon.service import otherFilterDir
from pyfilter.daemon.startup import isStartupPipe
from pyfilter.legacy.adapter import LegacySupport


class OptionsTests(SynchronousTestCase):
    def parse(self, *args):
        options = twistd.Options()
        options.parseOptions(list(args))
        return options

    def test_explicitPaths(self):
        """The documented options are accepted as given."""
        options = self.parse("--config", "/c", "--modules-config", "/m",
                             "--courier-sysconf", "/s", "--socket", "/x/y",
                             "--state-dir", "/st", "--selective")
        self.assertEqual((options["config"], options["modules-config"],
                          options["courier-sysconf"], options["socket"],
                          options["state-dir"], options["selective"]),
                         ("/c", "/m", "/s", "/x/y", "/st", True))

    def test_defaults(self):
        """Without options the chain file is pyfilter's or the reference's."""
        options = self.parse()
        self.assertIn(options["config"], ("/etc/pyfilter.conf",
                                           "/etc/pythonfilter.conf"))
        self.assertEqual(options["state-dir"], "/var/lib/pyfilter")

    def test_firstExisting(self):
        """The first existing candidate wins; else the first is named."""
        existing = self.mktemp()
        open(existing, "w").close()
        self.assertEqual(locations.firstExisting(["/nonexistent", existing]),
                         existing)
        self.assertEqual(locations.firstExisting(["/nonexistent/a", "/nonexistent/b"]),
                         "/nonexistent/a")

    def test_resolvers(self):
        """--resolver is repeatable and checked."""
        options = self.parse("--resolver", "127.0.0.1:5353",
                             "--resolver", "[::1]:53", "--resolver", "10.0.0.1")
        self.assertEqual(options["resolvers"],
                         ["127.0.0.1:5353", "::1:53", "10.0.0.1:53"])
        self.assertRaises(usage.UsageError, self.parse, "--resolver", "x:99999")

    def test_modulePath(self):
        """--module-path is repeatable, made absolute, and refuses what is
        not a directory or is writable by any user."""
        first, second = self.mktemp(), self.mktemp()
        for directory in (first, second):
            os.makedirs(directory, mode=0o755)
            os.chmod(directory, 0o755)
        options = self.parse("--module-path", first, "--module-path", second)
        self.assertEqual(options["module-paths"],
                         [os.path.abspath(first), os.path.abspath(second)])
        self.assertEqual(self.parse()["module-paths"], [])
        os.chmod(second, 0o777)
        self.assertRaises(usage.UsageError, self.parse, "--module-path",
                          second)
        self.assertRaises(usage.UsageError, self.parse, "--module-path",
                          os.path.join(first, "missing"))

    def test_modulePathFindsFilters(self):
        """A filter module in a --module-path directory is found by name,
        after pyfilter's own filters."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        with open(os.path.join(directory, "sitefilter.py"), "w") as f:
            f.write("def do_filter(body, controls):\n    return ''\n")
        self.addCleanup(sys.modules.pop, "sitefilter", None)
        self.addCleanup(sys.path.remove, directory)
        loader.extendModulePath([directory])
        loader.extendModulePath([directory])
        self.assertEqual(sys.path.count(directory), 1)
        self.assertEqual(sys.path[-1], directory)
        found = loader.findFilter("sitefilter", LegacySupport(None))
        self.assertEqual(found.module.__name__, "sitefilter")

    def test_makeServiceSocketPaths(self):
        """The socket is in allfilters/, or filters/ with --selective; the
        GIL switch interval is shortened for the store's thread."""
        self.addCleanup(sys.setswitchinterval, sys.getswitchinterval())
        service = twistd.makeService(self.parse("--courier-sysconf", "/s"))
        self.assertEqual(os.path.basename(os.path.dirname(service.socketPath)),
                         "allfilters")
        self.assertEqual(service.paths.sysconfdir, "/s")
        service = twistd.makeService(self.parse("--selective"))
        self.assertEqual(os.path.basename(os.path.dirname(service.socketPath)),
                         "filters")
        self.assertAlmostEqual(sys.getswitchinterval(), twistd.SWITCH_INTERVAL)


class ServiceHelperTests(SynchronousTestCase):
    def test_otherFilterDir(self):
        """The same name in Courier's other filter directory is found."""
        self.assertEqual(otherFilterDir("/v/allfilters/pyfilter"),
                         "/v/filters/pyfilter")
        self.assertEqual(otherFilterDir("/v/filters/pyfilter"),
                         "/v/allfilters/pyfilter")
        self.assertIsNone(otherFilterDir("/tmp/sock"))

    def test_startupPipe(self):
        """Only a pipe counts as courierfilter's start-up descriptor."""
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        self.assertTrue(isStartupPipe(write))
        with open(self.mktemp(), "w") as f:
            self.assertFalse(isStartupPipe(f.fileno()))
        self.assertFalse(isStartupPipe(9999))

    def test_courierConfigOutput(self):
        """courier-config's name=value lines are read; others ignored."""
        values = parseCourierConfig(
            "prefix=/usr\nlocalstatedir=/var/lib/courier\nmailuser=courier\n"
            "configure_args=\"'--x=y'\"\n")
        self.assertEqual(values, {"localstatedir": "/var/lib/courier",
                                  "mailuser": "courier"})

    def test_pidDirectoryAndSendmail(self):
        """The pid directory and sendmail come from configure_args'
        --with-piddir and --enable-sendmail."""
        values = parseCourierConfig(
            "configure_args=\"'--prefix=/usr' '--with-piddir=/var/run/c' "
            "'--enable-sendmail=/usr/sbin/sendmail' '--x'\"\n")
        self.assertEqual(values, {"piddir": "/var/run/c",
                                  "sendmail": "/usr/sbin/sendmail"})

    def test_sendmailProgram(self):
        """Without --enable-sendmail, sendmail is Courier's own default,
        <bindir>/sendmail; Debian's is /usr/sbin/sendmail."""
        paths = CourierPaths(**dict(DEBIAN, bindir="/opt/courier/bin",
                                    sendmail=""))
        self.assertEqual(paths.sendmailProgram, "/opt/courier/bin/sendmail")
        self.assertEqual(CourierPaths(**DEBIAN).sendmailProgram,
                         "/usr/sbin/sendmail")
