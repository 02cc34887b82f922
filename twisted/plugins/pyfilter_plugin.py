from twisted.application.service import ServiceMaker

pyfilter = ServiceMaker(
    "pyfilter", "pyfilter.tap",
    "Asynchronous mail policy daemon for the Courier MTA", "pyfilter")
