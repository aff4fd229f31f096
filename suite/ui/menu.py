"""The shell's navigation: five sections (CRM, SCRM, ERP, Dashboards, Admin) that apps add entries to.

An app registers its pages once, at import time (e.g. in its ``views/__init__.py`` or ``apps.py`` ready)::

    from suite.ui import menu
    menu.register(menu.MenuItem("crm", _("Customers"), "crm:customer-list", module="crm", order=10))

Each entry can be limited to roles, to a module the company has enabled, and to an extra check such as
``lambda actor: policy.can(actor, "view", Customer)``. ``menu_for(actor)`` returns what one actor sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from suite import modules
from suite.models import Role


@dataclass(frozen=True)
class Section:
    key: str
    label: str | Promise
    modules: tuple[str, ...] = ()
    roles: frozenset[str] | None = None  # None: every role

    @property
    def url(self) -> str:
        return reverse("app-landing", kwargs={"app": self.key})


SECTIONS: tuple[Section, ...] = (
    Section("crm", _("CRM"), modules=("crm",)),
    Section("scrm", _("SCRM"), modules=("scrm",)),
    Section("erp", _("ERP"), modules=("erp_finance", "erp_supply", "erp_production", "erp_hr")),
    Section("dashboards", _("Dashboards")),
    Section("admin", _("Admin"), roles=frozenset({Role.ADMIN})),
)
SECTION_KEYS = frozenset(section.key for section in SECTIONS)


@dataclass(frozen=True)
class MenuItem:
    section: str
    label: str | Promise
    url_name: str
    url_kwargs: dict = field(default_factory=dict)
    roles: frozenset[str] | None = None  # None: every role
    module: str | None = None  # shown only when the company has enabled this module
    order: int = 100
    check: Callable | None = None  # extra test on the actor, e.g. a policy.can(...)

    def url(self) -> str | None:
        try:
            return reverse(self.url_name, kwargs=self.url_kwargs or None)
        except NoReverseMatch:
            return None

    def visible_to(self, actor) -> bool:
        if actor is None:
            return False
        if self.roles is not None and actor.role not in self.roles:
            return False
        if not modules.company_has(actor.company, self.module):  # empty enabled_modules: every module
            return False
        return self.check is None or bool(self.check(actor))


_items: list[MenuItem] = []


def register(*items: MenuItem) -> None:
    """Add entries to the navigation (idempotent: the same entry registered twice appears once)."""
    for item in items:
        if item.section not in SECTION_KEYS:
            raise ValueError(f"unknown menu section {item.section!r}; use one of {sorted(SECTION_KEYS)}")
        if all(
            (existing.section, existing.url_name, existing.url_kwargs) != (item.section, item.url_name, item.url_kwargs)
            for existing in _items
        ):
            _items.append(item)


def items() -> list[MenuItem]:
    return list(_items)


@dataclass(frozen=True)
class Link:
    label: str | Promise
    url: str
    active: bool


@dataclass(frozen=True)
class SectionView:
    key: str
    label: str | Promise
    url: str
    active: bool
    links: list[Link]


def section_visible(section: Section, actor, user=None) -> bool:
    # A section of modules (CRM, SCRM, ERP) disappears when the company has enabled none of them.
    if (
        section.modules
        and actor is not None
        and not any(modules.company_has(actor.company, module) for module in section.modules)
    ):
        return False
    if section.roles is None:
        return True
    user = user or (actor.user if actor else None)
    return bool((actor and actor.role in section.roles) or (user is not None and user.is_staff))


def menu_for(actor, *, path: str = "", user=None) -> list[SectionView]:
    """The sections and entries ``actor`` may see, the one holding ``path`` marked active."""
    result = []
    for section in SECTIONS:
        if not section_visible(section, actor, user):
            continue
        links = []
        for item in sorted((i for i in _items if i.section == section.key), key=lambda i: (i.order, str(i.label))):
            if not item.visible_to(actor):
                continue
            url = item.url()
            if url:
                links.append(Link(item.label, url, active=bool(path) and path.startswith(url)))
        url = section.url
        active = bool(path) and (path.startswith(url) or any(link.active for link in links))
        result.append(SectionView(section.key, section.label, url, active, links))
    return result


# The platform's own entries.
register(
    MenuItem("admin", _("People & teams"), "directory", order=10),
    MenuItem("admin", _("API tokens"), "api-tokens", order=20),
    MenuItem("admin", _("Admin site"), "admin:index", order=90, check=lambda actor: actor.user.is_staff),
)
