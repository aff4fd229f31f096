"""Faster migration state for newly created models.

Django re-renders, for every ``CreateModel`` a migration applies, the new model *and every model related to the
models it points to, recursively*. In a suite where nearly every model has a foreign key to the company and to the
user, that is every model, so applying N ``CreateModel`` operations renders about N² model classes: on a fresh
database our ~400 models took 4.5 CPU-minutes to migrate, almost all of it in ``ModelBase.__new__``.

Re-rendering the related models is needed when an *existing* model changes (the classes that point to it must be
rebuilt to point at the new class). A model that did not exist before has nobody pointing at it, and rendering it
alone into the state's registry is enough: its relations resolve against the registered targets, which receive their
reverse accessors, and registering it expires every model's ``_meta`` cache. So for a model that is new to the state
we render only that model; everything else goes through Django's own code.

The schema this produces is compared with Django's unpatched result by ``suite/tests/test_migration_speed.py``.
Set ``TROIKA_FAST_MIGRATION_STATE=0`` to turn the patch off.
"""

from __future__ import annotations

import os

import django
from django.db.migrations.state import ProjectState

_original_add_model = ProjectState.add_model


def _add_model(self: ProjectState, model_state) -> None:
    model_key = model_state.app_label, model_state.name_lower
    if model_key in self.models or "apps" not in self.__dict__:
        return _original_add_model(self, model_state)
    self.models[model_key] = model_state
    if self._relations is not None:
        self.resolve_model_relations(model_key)
    # A new model: render it alone (see the module docstring).
    self._reload({model_key})


def install() -> bool:
    """Patch ``ProjectState.add_model`` once; only for the Django series the patch was checked against."""
    if os.environ.get("TROIKA_FAST_MIGRATION_STATE", "1") == "0" or django.VERSION[:2] != (5, 2):
        return False
    if ProjectState.add_model is not _add_model:
        ProjectState.add_model = _add_model
    return True


def uninstall() -> None:
    ProjectState.add_model = _original_add_model
