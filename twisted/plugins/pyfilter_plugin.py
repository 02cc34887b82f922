from twisted.application.service import ServiceMaker

pyfilter = ServiceMaker(
    "pyfilter", "pyfilter.daemon.twistd",
    "Asynchronous mail policy daemon for the Courier MTA", "pyfilter")
