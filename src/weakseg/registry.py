"""Name -> class registries, so config.yaml picks a method, refiner or dataset type by name."""

import importlib

from .errors import WeaksegError


class Registry:
    def __init__(self, kind):
        self.kind = kind
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
        self._declared[name] = (module, metadata)

    def names(self):
        return sorted(set(self._items) | set(self._declared))

    def _known(self, name, where):
        if name not in self._items and name not in self._declared:
            raise WeaksegError(where, f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def metadata(self, name, where="config.yaml"):
        self._known(name, where)
        return self._declared.get(name, (None, {}))[1]

    def get(self, name, where="config.yaml"):
        self._known(name, where)
        if name not in self._items:
            importlib.import_module(self._declared[name][0])
        return self._items[name]
