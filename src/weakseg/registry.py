"""Name -> class registries, so config.yaml picks a method, refiner or dataset type by name.

A component is declared (name, module, facts) without importing its module, and registered by
its module when that is imported. Its module holds both: `DECLARATIONS`, read by `discover`
without importing it, and the class, registered with `@REGISTRY.register(name)`. The facts the DAG and the config check use:
- `options`: {option name: JSON schema of its value}, every option the component takes. A key
  in config.yaml that is not declared is refused at parse time, naming it (`check_options`).
- `needs`: the per-scene inputs its jobs receive, by name (see the registries' modules).
"""

import ast
import importlib
from pathlib import Path

from .errors import WeaksegError

# What a declaration may call besides the schema pieces: builders of plain values.
_VALUE_BUILTINS = {"dict": dict, "set": set, "list": list, "tuple": tuple, "range": range}


def read_declarations(path, namespace):
    """The `DECLARATIONS = [dict(name=..., ...), ...]` assignment of a component's module,
    evaluated without importing the module (whose imports are torch and friends): literals,
    value builders and `namespace`'s names only."""
    path = Path(path)
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["DECLARATIONS"]:
            code = compile(ast.Expression(node.value), str(path), "eval")
            try:
                return eval(code, {"__builtins__": _VALUE_BUILTINS, **namespace})
            except NameError as err:
                raise ValueError(f"{path}: DECLARATIONS may use literals and weakseg.option_schemas only ({err})") from None
    return []


class Registry:
    def __init__(self, kind, known_needs=()):
        self.kind = kind
        self.known_needs = frozenset(known_needs)
        self._items = {}
        self._declared = {}  # name -> (module, metadata)

    def register(self, name):
        def add(cls):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            cls.name = name
            self._items[name] = cls
            return cls
        return add

    def declare(self, name, module, **metadata):
        """Name a component, the module that registers it and facts about it, without importing
        the module: the DAG checks a config against the metadata at parse time, and importing
        torch there would cost seconds on every `snakemake` call."""
        unknown = set(metadata.get("needs", ())) - self.known_needs
        if unknown:  # a need no job can be given would only fail when the job runs
            raise ValueError(f"{self.kind} {name!r} needs {sorted(unknown)}; jobs can be given {sorted(self.known_needs)}")
        metadata.setdefault("options", {})
        metadata.setdefault("needs", ())
        self._declared[name] = (module, metadata)

    def discover(self, package, folder, namespace):
        """Declare what each module of `package` (in `folder`) declares in its `DECLARATIONS`:
        adding a component is adding its module."""
        for path in sorted(Path(folder).glob("*.py")):
            if not path.stem.startswith("_"):
                for declaration in read_declarations(path, namespace):
                    declaration = dict(declaration)
                    self.declare(declaration.pop("name"), f"{package}.{path.stem}", **declaration)

    def names(self):
        return sorted(set(self._items) | set(self._declared))

    def _known(self, name, where):
        if name not in self._items and name not in self._declared:
            raise WeaksegError(where, f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def metadata(self, name, where="config.yaml"):
        self._known(name, where)
        return self._declared.get(name, (None, {"options": {}, "needs": ()}))[1]

    def get(self, name, where="config.yaml"):
        self._known(name, where)
        if name not in self._items:
            module = self._declared[name][0]
            importlib.import_module(module)
            if name not in self._items:
                raise ValueError(f"{module} declares the {self.kind} {name!r} but registers none by that name")
        return self._items[name]


def check_options(given, declared, common, at, what, where="config.yaml"):
    """Refuse a key of `given` that is neither a `common` key nor a declared option, and a
    declared option whose value does not match its schema: one line naming the key."""
    import jsonschema

    unknown = sorted(set(given) - set(common) - set(declared))
    if unknown:
        takes = ", ".join(sorted(set(declared) | set(common) - {"name"})) or "no options"
        raise WeaksegError(where, f"{at}: unknown option {unknown[0]!r} for {what} (it takes: {takes})")
    for key, schema in declared.items():
        if key in given:
            try:
                jsonschema.validate(given[key], schema)
            except jsonschema.ValidationError as err:
                raise WeaksegError(where, f"{at}.{key}: {err.message}") from None
