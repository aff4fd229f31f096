"""The registry of data generators: one module per app here (``suite.py`` now; ``crm.py``, ``scrm.py``,
``erp.py`` as those apps land), each registering its generators with :func:`generator`.

A generator scales the shapes of the app's demo data (``<app>/demo.py``) to benchmark sizes with
``bulk_create`` or COPY, and returns the number of rows it wrote per table. Generators run in ``order``;
later ones use what earlier ones left in :class:`GenerationContext` (e.g. CRM customers need the companies
and the sales users of ``suite``). Sizes come in presets — ``small`` (tests), ``default`` (`make bench`,
finishes in a minute or two), ``large`` (100k customers and beyond) — and any single size can be overridden:
``python -m bench generate --preset large --set users_per_company=2000``.

    from bench.generators import generator

    @generator("crm.customers", order=20, sizes={"small": {"customers_per_company": 200},
                                                 "default": {"customers_per_company": 5_000},
                                                 "large": {"customers_per_company": 25_000}})
    def customers(ctx: GenerationContext) -> dict[str, int]:
        ...
        return {"crm.Customer": n}
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PRESETS = ("small", "default", "large")


@dataclass
class GenerationContext:
    """Sizes for this run, and what generators hand to the ones after them."""

    sizes: dict[str, int]
    companies: list = field(default_factory=list)  # suite.Company rows made or reused by this run
    members: dict = field(default_factory=dict)  # company id -> {role: [Membership, ...]}
    teams: dict = field(default_factory=dict)  # company id -> [Team, ...]
    shared: dict = field(default_factory=dict)  # anything else, keyed by the generator's name

    @property
    def password_hash(self) -> str:
        """The demo password, hashed once per run (one PBKDF2 run costs about a second)."""
        if "password_hash" not in self.shared:
            from django.contrib.auth.hashers import make_password

            from suite.demo import DEMO_PASSWORD

            self.shared["password_hash"] = make_password(DEMO_PASSWORD)
        return self.shared["password_hash"]

    def random(self, name: str) -> random.Random:
        """A random source per generator: the same data for the same sizes on every run."""
        return random.Random(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))


@dataclass(frozen=True)
class Generator:
    name: str
    order: int
    sizes: dict[str, dict[str, int]]
    run: Callable[[GenerationContext], dict[str, int]]


REGISTRY: dict[str, Generator] = {}


def generator(name: str, *, order: int, sizes: dict[str, dict[str, int]]):
    """Register ``func`` as the generator ``name`` (``<app>.<what>``) with its sizes per preset."""
    missing = set(PRESETS) - set(sizes)
    if missing:
        raise ValueError(f"generator {name} lacks sizes for presets {sorted(missing)}")

    def register(func: Callable[[GenerationContext], dict[str, int]]):
        REGISTRY[name] = Generator(name=name, order=order, sizes=sizes, run=func)
        return func

    return register


def discover() -> list[Generator]:
    """Import every generator module of this package; the registered generators in their order."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__name__}.{info.name}")
    return sorted(REGISTRY.values(), key=lambda g: (g.order, g.name))


def sizes_for(generators: list[Generator], preset: str, overrides: dict[str, int]) -> dict[str, int]:
    """The merged sizes of ``preset`` for ``generators``, with ``overrides`` applied (unknown keys refused)."""
    sizes: dict[str, int] = {}
    for gen in generators:
        sizes.update(gen.sizes[preset])
    unknown = set(overrides) - set(sizes)
    if unknown:
        raise ValueError(f"unknown size(s) {sorted(unknown)}; known: {sorted(sizes)}")
    sizes.update(overrides)
    return sizes
