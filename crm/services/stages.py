"""Changes to the shape of a pipeline: adding an open stage, moving one up or down, retiring and removing one.

Renaming and re-weighting a stage is ``crm.services.opportunities.stage_update`` (what ``PATCH
/api/v1/crm/stages/<id>/`` calls); these services build on it and keep the rules a pipeline lives by:

- the won and lost stages close the pipeline: they stay last (won, then lost), stay in use and cannot be removed;
- a pipeline keeps at least one open stage in use (new deals start in its first one);
- a stage that a deal is in, or went through (its stage history), is never removed: it can be retired, which
  takes it off the board and the forms and keeps the history;
- the open deals in a stage keep it in use: retiring it would take them off the board.

Every service locks the pipeline row first, so two admins reshaping one pipeline run one after the other, and
renumbers the sequences of the pipeline's stages (10, 20, …) when the order changes. A change of the order or of
the stages in use rebuilds the pipeline's funnel pre-aggregate (``crm.services.funnel``), as ``stage_update``
does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.errors import CrmConflict
from crm.models import Opportunity, OpportunityStageChange, Pipeline, Stage
from crm.services.funnel import funnel_reach_rebuild
from crm.services.opportunities import lock_pipeline, stage_update

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SEQUENCE_STEP = 10
UP, DOWN = "up", "down"
NAME_MAX_LENGTH = Stage._meta.get_field("name").max_length


def _stages_in_order(pipeline: Pipeline) -> list[Stage]:
    """The pipeline's stages in their order, locked (after the pipeline row)."""
    return list(Stage.objects.select_for_update(of=("self",)).filter(pipeline=pipeline).order_by("sequence", "id"))


def _renumber(open_stages: list[Stage], closed_stages: list[Stage]) -> bool:
    """Give the stages the sequences 10, 20, … in this order (the open ones, then won, then lost); saves the rows
    whose sequence changes. ``True`` when one did."""
    changed = False
    ordered = [*open_stages, *sorted(closed_stages, key=lambda stage: (stage.is_lost, stage.sequence, stage.pk))]
    for position, stage in enumerate(ordered, start=1):
        if stage.sequence != position * SEQUENCE_STEP:
            stage.sequence = position * SEQUENCE_STEP
            if stage.pk is not None:
                stage.save(update_fields=["sequence", "updated_at"])
                changed = True
    return changed


def _split(stages: list[Stage]) -> tuple[list[Stage], list[Stage]]:
    return [s for s in stages if not s.is_closed], [s for s in stages if s.is_closed]


@transaction.atomic
def stage_create(
    *,
    pipeline: Pipeline,
    name: str,
    probability: int,
    by: User | None,
    name_en: str = "",
    position: int | None = None,
) -> Stage:
    """Add an open stage to ``pipeline``: at ``position`` among its open stages (0: first; ``None`` or past the
    end: the last open stage, just before won and lost). The stages after it move down one place.

    Refuses (``ValidationError``) an empty name, a name another stage of the pipeline has, or a probability
    that is not a whole percentage from 0 to 100. Locks the pipeline and its stages; rebuilds its funnel rows (a
    new stage is a new threshold of the funnel)."""
    errors: dict[str, list] = {}
    name, name_en = (name or "").strip(), (name_en or "").strip()
    if not name:
        errors["name"] = [_("Every stage needs a name.")]
    elif len(name) > NAME_MAX_LENGTH or len(name_en) > NAME_MAX_LENGTH:
        errors["name"] = [_("A stage name has at most %(count)d characters.") % {"count": NAME_MAX_LENGTH}]
    if isinstance(probability, bool) or not isinstance(probability, int) or not 0 <= probability <= 100:
        errors["probability"] = [_("A win probability is a whole percentage from 0 to 100.")]
    if errors:
        raise ValidationError(errors)
    pipeline = lock_pipeline(pipeline.pk)
    open_stages, closed_stages = _split(_stages_in_order(pipeline))
    if any(stage.name == name for stage in [*open_stages, *closed_stages]):
        raise ValidationError({"name": [_("Another stage of this pipeline has this name.")]})
    stage = Stage(
        company_id=pipeline.company_id, pipeline=pipeline, name=name, name_en=name_en, probability=probability
    )
    index = len(open_stages) if position is None else max(0, min(position, len(open_stages)))
    open_stages.insert(index, stage)
    _renumber(open_stages, closed_stages)
    try:
        with transaction.atomic():
            stage.save()
    except IntegrityError:  # a name taken since the check above cannot happen (locked), but say so if it does
        raise ValidationError({"name": [_("Another stage of this pipeline has this name.")]}) from None
    funnel_reach_rebuild(company_id=pipeline.company_id, pipeline_id=pipeline.pk)
    return stage


@transaction.atomic
def stage_move(*, stage: Stage, direction: str, by: User | None) -> Stage:
    """Move an open stage one place up or down among the pipeline's open stages (``direction``: ``"up"`` or
    ``"down"``); at the top (bottom) already, nothing changes. The won and lost stages stay last
    (``ValidationError``). Locks the pipeline and its stages; rebuilds its funnel rows when the order changed
    (the funnel's thresholds are the stages' sequences)."""
    if direction not in (UP, DOWN):
        raise ValidationError({"direction": [_("Move a stage up or down.")]})
    pipeline = lock_pipeline(stage.pipeline_id)
    open_stages, closed_stages = _split(_stages_in_order(pipeline))
    index = next((i for i, s in enumerate(open_stages) if s.pk == stage.pk), None)
    if index is None:
        raise ValidationError({"direction": [_("The won and lost stages stay at the end of the pipeline.")]})
    target = index - 1 if direction == UP else index + 1
    if 0 <= target < len(open_stages):
        open_stages[index], open_stages[target] = open_stages[target], open_stages[index]
    if _renumber(open_stages, closed_stages):
        funnel_reach_rebuild(company_id=pipeline.company_id, pipeline_id=pipeline.pk)
    return next(s for s in open_stages if s.pk == stage.pk)


def _open_in_use(stages: list[Stage], *, without: Stage) -> int:
    return sum(1 for s in stages if not s.is_closed and s.is_active and s.pk != without.pk)


@transaction.atomic
def stage_retire(*, stage: Stage, by: User | None) -> Stage:
    """Take an open stage out of use (``is_active``, through ``stage_update``): off the board and the forms, kept
    in the history of the deals that went through it. Refused (``CrmConflict``) for the won and lost stages, the
    last open stage in use, and a stage open deals are in (move them first). Locks the pipeline and its stages."""
    pipeline = lock_pipeline(stage.pipeline_id)
    stages = _stages_in_order(pipeline)
    stage = next(s for s in stages if s.pk == stage.pk)
    if not stage.is_active:
        return stage
    if stage.is_closed:
        raise CrmConflict(_("The won and lost stages stay in use: every pipeline closes its deals with them."))
    if not _open_in_use(stages, without=stage):
        raise CrmConflict(_("A pipeline needs at least one open stage in use."))
    in_it = Opportunity.objects.filter(stage=stage).count()
    if in_it:
        raise CrmConflict(
            ngettext(
                "%(count)d opportunity is in this stage: move it to another stage first.",
                "%(count)d opportunities are in this stage: move them to another stage first.",
                in_it,
            )
            % {"count": in_it}
        )
    return stage_update(stage=stage, by=by, is_active=False)


@transaction.atomic
def stage_delete(*, stage: Stage, by: User | None) -> None:
    """Remove a stage added by mistake. Refused (``CrmConflict``) for the won and lost stages, the last open stage
    in use, a stage opportunities are in, and a stage in the stage history of any deal (retire it instead: the
    history keeps its stages). Locks the pipeline and its stages (a deal moved into the stage meanwhile waits for
    the removal, then fails on the missing stage); rebuilds the pipeline's funnel rows."""
    pipeline = lock_pipeline(stage.pipeline_id)
    stages = _stages_in_order(pipeline)
    stage = next(s for s in stages if s.pk == stage.pk)
    if stage.is_closed:
        raise CrmConflict(_("The won and lost stages cannot be removed: every pipeline closes its deals with them."))
    if stage.is_active and not _open_in_use(stages, without=stage):
        raise CrmConflict(_("A pipeline needs at least one open stage in use."))
    in_it = Opportunity.objects.filter(stage=stage).count()
    if in_it:
        raise CrmConflict(
            ngettext(
                "%(count)d opportunity is in this stage: move it to another stage first, or retire the stage.",
                "%(count)d opportunities are in this stage: move them to another stage first, or retire the stage.",
                in_it,
            )
            % {"count": in_it}
        )
    if OpportunityStageChange.objects.filter(Q(to_stage=stage) | Q(from_stage=stage)).exists():
        raise CrmConflict(
            _("Opportunities went through this stage and their history keeps it: retire the stage instead.")
        )
    try:
        with transaction.atomic():
            stage.delete()
    except ProtectedError:  # pragma: no cover - the checks above cover every reference to a stage
        raise CrmConflict(_("This stage is still referenced: retire it instead.")) from None
    funnel_reach_rebuild(company_id=pipeline.company_id, pipeline_id=pipeline.pk)
