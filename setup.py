from setuptools import find_packages, setup

setup(
    name="pyfilter",
    version="0.1.0",
    description="Asynchronous mail policy daemon for the Courier MTA",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["pyfilter", "pyfilter.*", "filters"])
    + ["twisted.plugins"],
    package_data={"twisted.plugins": ["pyfilter_plugin.py"]},
    install_requires=[
        "twisted>=22.10",
        "ldaptor",
        "txpostgres",
        "psycopg2-binary",
        "pyspf",
        "dnspython",
        "treq",
        "prometheus-client",
    ],
    entry_points={"console_scripts": ["pyfilter = pyfilter.cli:main"]},
)
