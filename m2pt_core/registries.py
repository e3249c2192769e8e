"""Registry: named values of one kind (datasets, provenance loaders, ...), with one overwrite rule."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import M2PTError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name registers once; registering it again needs ``overwrite=True`` (the one rule).

    ``what`` names the kind of value in messages ("dataset", "provenance loader")."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, value: T, overwrite: bool = False) -> T:
        if name in self._items and not overwrite:
            raise ValueError(f"A {self.what} named {name!r} is already registered; pass overwrite=True to replace it.")
        self._items[name] = value
        return value

    def get(self, name: str) -> T:
        """The value of ``name``; M2PTError listing the registered names if there is none."""
        if name not in self._items:
            raise M2PTError(f"Unknown {self.what} {name!r}; expected one of: {', '.join(self.names())}.")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
