"""Faster migration state for newly created models.

Applying a migration operation makes Django re-render the model it touches *and the models related to it*. In a
suite where nearly every model has a foreign key to the company, "related to the company" is every model, so each
``CreateModel``, ``AddIndex``, ``AddConstraint`` and pgtrigger ``AddTrigger`` (about 1,500 of them, most of them the
audit triggers) re-rendered about 400 model classes: on a fresh database migrations took 4.5 CPU-minutes, almost
all of it in ``ModelBase.__new__``. Two cases need much less:

* **A new model** (``CreateModel``): nobody points at it yet. Rendering it alone into the state's registry is
  enough: its relations resolve against the registered targets, which receive their reverse accessors, and
  registering it expires every model's ``_meta`` cache.
* **A "delayed" reload** (Django's own ``delay=True``: index, constraint and trigger options, and non-relational
  fields nobody references). Django already accepts a partly stale state there and marks it ``is_delayed``;
  ``RunPython`` and the ``post_migrate`` signal re-render everything before they use it. The models that point at
  the reloaded one keep pointing at its previous class, whose table and referenced columns are unchanged, which is
  all the schema editor reads from them. So we render only the model itself instead of its neighbours' neighbours.

The schema this produces is compared with Django's unpatched result by ``suite/tests/test_migration_speed.py``.
Set ``TROIKA_FAST_MIGRATION_STATE=0`` to turn the patch off.
"""

from __future__ import annotations

import os

import django
from django.db.migrations.state import ProjectState

_original_add_model = ProjectState.add_model
_original_find_reload_model = ProjectState._find_reload_model


def _add_model(self: ProjectState, model_state) -> None:
    model_key = model_state.app_label, model_state.name_lower
    if model_key in self.models or "apps" not in self.__dict__:
        return _original_add_model(self, model_state)
    self.models[model_key] = model_state
    if self._relations is not None:
        self.resolve_model_relations(model_key)
    # A new model: render it alone (see the module docstring).
    self._reload({model_key})


def _find_reload_model(self: ProjectState, app_label: str, model_name: str, delay: bool = False) -> set:
    if not delay:
        return _original_find_reload_model(self, app_label, model_name, delay)
    self.is_delayed = True  # RunPython and post_migrate re-render the whole state first (Django's own rule)
    return {(app_label, model_name)}


def install() -> bool:
    """Patch ``ProjectState``; only for the Django series the patch was checked against."""
    if os.environ.get("TROIKA_FAST_MIGRATION_STATE", "1") == "0" or django.VERSION[:2] != (5, 2):
        return False
    ProjectState.add_model = _add_model
    ProjectState._find_reload_model = _find_reload_model
    return True


def uninstall() -> None:
    ProjectState.add_model = _original_add_model
    ProjectState._find_reload_model = _original_find_reload_model
