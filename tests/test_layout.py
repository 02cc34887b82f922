"""
The package's shape: its import graph points one way.

  - no import cycle between pyfilter's modules, counting imports made
    inside functions too;
  - a module imports inside a function only where the list below says why;
  - the core (everything but legacy, daemon, cli and testing) never imports
    the legacy support, the daemon or the commands; legacy never imports
    the daemon or the commands; nothing imports the commands;
  - an admin command loads only what it uses: not the daemon, not the
    reactor.
"""

import ast
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Imports inside functions, and why each is there.
DEFERRED_IMPORTS = {
    ("pyfilter.daemon.twistd", "makeService"):
        "nothing may install the reactor before fd 3 is checked",
}

#: Sub-packages that only the given ones may import.
IMPORTED_ONLY_BY = {
    "pyfilter.legacy": {"pyfilter.legacy", "pyfilter.daemon", "pyfilter.cli"},
    "pyfilter.daemon": {"pyfilter.daemon", "pyfilter.cli"},
    "pyfilter.cli": {"pyfilter.cli"},
    "pyfilter.testing": {"pyfilter.testing"},
}


def modules():
    """
    Every module of the package: dotted name to source path.
    """
    found = {}
    base = os.path.join(ROOT, "pyfilter")
    for directory, _, files in os.walk(base):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name, path, known):
    """
    The pyfilter modules C{name} imports: C{(imported, function)} pairs,
    C{function} being the enclosing function's name or C{None}.
    """
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, function))
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    found.append((candidate if candidate in known
                                  else child.module, function))
            visit(child, function)

    visit(tree, None)
    return [(imported, function) for imported, function in found
            if imported in known and imported != name]


def owner(name):
    parts = name.split(".")
    return ".".join(parts[:2])


class LayoutTests(SynchronousTestCase):
    def setUp(self):
        self.modules = modules()
        self.graph = {name: imports(name, path, self.modules)
                      for name, path in self.modules.items()}

    def test_noCycles(self):
        """No module imports, directly or not, a module that imports it
        (the package itself, whose names are imported lazily, aside)."""
        edges = {name: {imported for imported, _ in found
                        if imported != "pyfilter"}
                 for name, found in self.graph.items()}
        state = {}

        def visit(name, path):
            state[name] = "open"
            for imported in sorted(edges[name]):
                if state.get(imported) == "open":
                    cycle = path[path.index(imported):] + [imported]
                    self.fail("import cycle: " + " -> ".join(cycle))
                if imported not in state:
                    visit(imported, path + [imported])
            state[name] = "done"

        for name in sorted(edges):
            if name not in state:
                visit(name, [name])

    def test_deferredImportsExplained(self):
        """Imports inside functions are only the ones listed, with why."""
        found = {(name, function) for name, pairs in self.graph.items()
                 for _, function in pairs if function is not None}
        self.assertEqual(found, set(DEFERRED_IMPORTS))

    def test_layers(self):
        """The legacy support, the daemon, the commands and the testing
        helpers are imported only from above."""
        for name, pairs in sorted(self.graph.items()):
            for imported, _ in pairs:
                allowed = IMPORTED_ONLY_BY.get(owner(imported))
                if allowed is not None:
                    self.assertIn(owner(name), allowed,
                                  f"{name} imports {imported}")

    def test_commandImportsOnlyWhatItUses(self):
        """The quarantine, reload and status commands load neither the
        daemon nor the reactor, nor the legacy support."""
        for command in ("quarantine", "reload", "status"):
            script = (f"import sys, pyfilter.cli.{command}; "
                      "print('\\n'.join(sorted(sys.modules)))")
            loaded = subprocess.run(
                [sys.executable, "-c", script], cwd=ROOT,
                capture_output=True, text=True, check=True,
                timeout=60).stdout.split()
            for unwanted in ("pyfilter.daemon", "pyfilter.legacy",
                             "twisted.internet.reactor",
                             "pyfilter.engine.chain"):
                self.assertNotIn(unwanted, loaded, command)
