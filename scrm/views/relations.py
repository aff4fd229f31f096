"""Pages of communities (list, detail with figures, members and Q&A), cadences (list and editor) and WeCom
staff handover jobs (list, new, detail with progress polled by htmx). Thin: forms → services."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from scrm import selectors
from scrm import selectors_communities as rel
from scrm.models import Cadence, CadenceStep, Channel, Community, CommunityPost, HandoverJob
from scrm.services.cadences import cadence_create, cadence_update
from scrm.services.communities import community_post_create
from scrm.services.wecom_relations import handover_job_create
from suite import policy
from suite.ui.records import actor_required

PAGE_SIZE = 25
STEP_ROWS_EXTRA = 2
SOURCES = [
    ("", gettext_lazy("— no automatic enrolment —")),
    ("douyin", gettext_lazy("Douyin")),
    ("xiaohongshu", gettext_lazy("Xiaohongshu")),
    ("wechat", gettext_lazy("WeChat")),
    ("wecom", gettext_lazy("WeCom")),
    ("weibo", gettext_lazy("Weibo")),
    ("website", gettext_lazy("Website form")),
    ("advertising", gettext_lazy("Advertising")),
    ("other", gettext_lazy("Other")),
]


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# ---------------------------------------------------------------- communities


@actor_required
def community_list(request):
    actor = request.actor
    _require(actor, "view", Community)
    status = request.GET.get("status", "active")
    status = status if status in Community.Status.values else ""
    page = Paginator(rel.communities_visible_to(actor, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "scrm/community_list.html", {"page": page, "status": status, "statuses": Community.Status.choices}
    )


class PostForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[
            (CommunityPost.Kind.POST, gettext_lazy("Post")),
            (CommunityPost.Kind.QUESTION, gettext_lazy("Question")),
        ],
    )
    text = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


def _community_or_404(actor, pk: int) -> Community:
    community = rel.communities_visible_to(actor).filter(pk=pk).first()
    if community is None:
        raise Http404
    return community


@actor_required
def community_detail(request, pk: int):
    actor = request.actor
    community = _community_or_404(actor, pk)
    can_post = policy.can(actor, "add", CommunityPost)
    form = PostForm()
    if request.method == "POST":
        _require(actor, "add", CommunityPost)
        parent_id = request.POST.get("parent")
        form = PostForm(request.POST) if not parent_id else None
        try:
            if parent_id:
                parent = CommunityPost.objects.filter(pk=parent_id, community=community).first()
                community_post_create(
                    community=community,
                    kind=CommunityPost.Kind.ANSWER,
                    parent=parent,
                    text=request.POST.get("text", ""),
                    author=request.user,
                )
                flash.success(request, _("Answer posted."))
                return redirect("scrm:community", pk=community.pk)
            if form.is_valid():
                community_post_create(community=community, author=request.user, **form.cleaned_data)
                flash.success(request, _("Posted."))
                return redirect("scrm:community", pk=community.pk)
        except ValidationError as exc:
            if form is None:
                for message in exc.messages:
                    flash.error(request, message)
                return redirect("scrm:community", pk=community.pk)
            _form_errors(form, exc)
    members = Paginator(rel.community_members_of(community), 50).get_page(request.GET.get("members"))
    posts = Paginator(rel.community_posts_of(community), 20).get_page(request.GET.get("page"))
    figures = rel.community_figures(community)
    peak = max([max(w.joins, w.leaves) for w in figures.weeks] + [1])
    return render(
        request,
        "scrm/community_detail.html",
        {
            "community": community,
            "figures": figures,
            "peak": peak,
            "members": members,
            "page": posts,
            "form": form,
            "can_post": can_post,
        },
    )


# ---------------------------------------------------------------- cadences


class CadenceForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    trigger_source = forms.ChoiceField(label=gettext_lazy("Enrol new leads from"), choices=SOURCES, required=False)
    channel = forms.ModelChoiceField(
        label=gettext_lazy("Channel for pushes"), queryset=Channel.objects.none(), required=False
    )
    stop_keywords = forms.CharField(
        label=gettext_lazy("Opt-out keywords"),
        max_length=200,
        help_text=gettext_lazy("comma-separated; a reply that is one of them stops the cadence"),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = selectors.channels_visible_to(actor)


def _steps_from_post(post) -> list[dict]:
    steps = []
    for index in range(int(post.get("step_count", 0) or 0)):
        kind = post.get(f"step-{index}-kind", "")
        if not kind:
            continue
        try:
            delay = int(post.get(f"step-{index}-delay", "0") or 0)
        except ValueError:
            delay = -1
        unit = post.get(f"step-{index}-unit", "minutes")
        delay = delay * {"minutes": 1, "hours": 60, "days": 1440}.get(unit, 1) if delay >= 0 else delay
        steps.append(
            {
                "kind": kind,
                "delay_minutes": delay,
                "subject": post.get(f"step-{index}-subject", ""),
                "message": post.get(f"step-{index}-message", ""),
            }
        )
    return steps


@actor_required
def cadence_list(request):
    actor = request.actor
    _require(actor, "view", Cadence)
    page = Paginator(rel.cadences_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scrm/cadence_list.html", {"page": page, "can_add": policy.can(actor, "add", Cadence)})


@actor_required
def cadence_edit(request, pk: int | None = None):
    """The cadence editor: settings and the list of steps (kind, delay, subject/message)."""
    actor = request.actor
    cadence = None
    if pk is not None:
        cadence = rel.cadences_visible_to(actor).filter(pk=pk).first()
        if cadence is None:
            raise Http404
        _require(actor, "change", cadence)
    else:
        _require(actor, "add", Cadence)
    step_errors: dict[str, str] = {}
    if request.method == "POST":
        form = CadenceForm(request.POST, actor=actor)
        steps = _steps_from_post(request.POST)
        if form.is_valid():
            data = {**form.cleaned_data, "steps": steps}
            try:
                if cadence is None:
                    cadence = cadence_create(company=actor.company, **data)
                else:
                    cadence = cadence_update(cadence=cadence, **data)
                flash.success(request, _("Cadence saved."))
                return redirect("scrm:cadence", pk=cadence.pk)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    if field.startswith("steps"):
                        step_errors[field] = " ".join(errors)
                    else:
                        form.add_error(field if field in form.fields else None, errors)
    else:
        initial = {"stop_keywords": Cadence._meta.get_field("stop_keywords").default, "is_active": True}
        if cadence is not None:
            initial = {
                "name": cadence.name,
                "trigger_source": cadence.trigger_source,
                "channel": cadence.channel_id,
                "stop_keywords": cadence.stop_keywords,
                "is_active": cadence.is_active,
            }
        form = CadenceForm(initial=initial, actor=actor)
        steps = [
            {"kind": s.kind, "delay_minutes": s.delay_minutes, "subject": s.subject, "message": s.message}
            for s in (cadence.steps.all() if cadence else [])
        ]
    rows = [{**step, "index": i, "error": step_errors.get(f"steps[{i + 1}]", "")} for i, step in enumerate(steps)] + [
        {"kind": "", "delay_minutes": 0, "subject": "", "message": "", "index": len(steps) + n, "error": ""}
        for n in range(STEP_ROWS_EXTRA)
    ]
    enrollments = rel.cadence_enrollments_visible_to(actor, cadence=cadence)[:20] if cadence else []
    return render(
        request,
        "scrm/cadence_edit.html",
        {
            "cadence": cadence,
            "form": form,
            "rows": rows,
            "step_count": len(rows),
            "kinds": CadenceStep.Kind.choices,
            "steps_error": step_errors.get("steps", ""),
            "enrollments": enrollments,
        },
    )


# ---------------------------------------------------------------- handover


class HandoverForm(forms.Form):
    channel = forms.ModelChoiceField(label=gettext_lazy("WeCom channel"), queryset=Channel.objects.none())
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=HandoverJob.Kind.choices)
    from_user = forms.ModelChoiceField(label=gettext_lazy("Handed over by"), queryset=get_user_model().objects.none())
    handover_staff_id = forms.CharField(label=gettext_lazy("Their WeCom UserID"), max_length=64)
    to_user = forms.ModelChoiceField(label=gettext_lazy("Taken over by"), queryset=get_user_model().objects.none())
    takeover_staff_id = forms.CharField(label=gettext_lazy("Successor's WeCom UserID"), max_length=64)
    transfer_success_msg = forms.CharField(label=gettext_lazy("Message to customers"), max_length=200, required=False)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = selectors.channels_visible_to(actor).filter(kind="wecom")
        users = (
            get_user_model().objects.filter(memberships__company_id=actor.company_id).distinct().order_by("username")
        )
        self.fields["from_user"].queryset = users
        self.fields["to_user"].queryset = users.filter(memberships__is_active=True)


@actor_required
def handover_list(request):
    actor = request.actor
    _require(actor, "view", HandoverJob)
    can_add = policy.can(actor, "add", HandoverJob)
    form = HandoverForm(actor=actor)
    if request.method == "POST":
        _require(actor, "add", HandoverJob)
        form = HandoverForm(request.POST, actor=actor)
        if form.is_valid():
            try:
                job = handover_job_create(by=request.user, **form.cleaned_data)
                flash.success(request, _("Handover started."))
                return redirect("scrm:handover", pk=job.pk)
            except ValidationError as exc:
                _form_errors(form, exc)
    page = Paginator(rel.handover_jobs_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scrm/handover_list.html", {"page": page, "form": form, "can_add": can_add})


def _job_context(actor, pk: int, request) -> dict:
    job = rel.handover_jobs_visible_to(actor).filter(pk=pk).first()
    if job is None:
        raise Http404
    done = job.customers_transferred + job.customers_failed
    percent = (
        int(done * 100 / job.customers_total) if job.customers_total else (100 if job.status == "completed" else 0)
    )
    failed = rel.handover_items_of(job, status="failed")[:100]
    return {
        "job": job,
        "percent": percent,
        "failed": failed,
        "open": job.status in ("pending", "submitting", "waiting"),
    }


@actor_required
def handover_detail(request, pk: int):
    context = _job_context(request.actor, pk, request)
    template = "scrm/_handover_progress.html" if getattr(request, "htmx", False) else "scrm/handover_detail.html"
    return render(request, template, context)


@require_POST
@actor_required
def handover_advance(request, pk: int):
    from scrm import tasks

    context = _job_context(request.actor, pk, request)
    _require(request.actor, "advance", context["job"])
    tasks.handover_job_advance.delay(context["job"].pk)
    flash.success(request, _("The handover will move on in a moment."))
    return redirect("scrm:handover", pk=pk)
