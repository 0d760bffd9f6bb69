"""Name -> class registries, so config.yaml picks a method or a refiner by name."""

from .errors import WeaksegError


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name):
        def add(cls):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            cls.name = name
            self._items[name] = cls
            return cls
        return add

    def get(self, name, where="config.yaml"):
        if name not in self._items:
            raise WeaksegError(where, f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}")
        return self._items[name]
