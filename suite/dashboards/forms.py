"""The filter form of a dashboard (UI and API alike): period (from / to, or a preset), team, owner, product and
granularity, validated against what the actor may see. Bad values are field errors (UI: on the form; API: 400)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite import policy
from suite.dashboards import GRANULARITIES, Dashboard, Filters, choices_for, default_range
from suite.models import Membership, Role, Team

MAX_DAYS = 3 * 366 + 1  # three years: the figures stay about a manager's horizon, and the queries fast

PRESETS = (
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("this_quarter", _("This quarter")),
    ("year_to_date", _("Year to date")),
    ("last_12_months", _("Last 12 months")),
    # ahead as well as behind: the forecast (open deals by expected close) against the targets still to reach
    ("this_year", _("This year, to December")),
    ("next_quarter", _("Next quarter")),
)


def preset_range(preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - datetime.timedelta(days=1)
        return end.replace(day=1), end
    if preset == "this_quarter":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), today
    if preset == "year_to_date":
        return today.replace(month=1, day=1), today
    if preset == "this_year":
        return today.replace(month=1, day=1), today.replace(month=12, day=31)
    if preset == "next_quarter":
        first_month = (today.month - 1) // 3 * 3 + 4
        start = datetime.date(today.year + (first_month > 12), (first_month - 1) % 12 + 1, 1)
        end_month = start.month + 2
        return start, datetime.date(start.year, end_month, 31 if end_month in (3, 12) else 30)
    return default_range(today)


def _company_wide(actor) -> bool:
    """Whether the actor sees the whole company's deals (admins, company-scope roles) rather than their teams."""
    return actor.role == Role.ADMIN or actor.role not in (Role.MANAGER, Role.SALES)


class FilterForm(forms.Form):
    preset = forms.ChoiceField(label=_("Period"), choices=[("", _("Custom")), *PRESETS], required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.TypedChoiceField(label=_("Team"), coerce=int, required=False, empty_value=None)
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False, empty_value=None)
    product = forms.TypedChoiceField(label=_("Product"), coerce=int, required=False, empty_value=None)
    granularity = forms.ChoiceField(
        label=_("Per"),
        choices=[("month", _("Month")), ("week", _("Week"))],
        required=False,
    )

    def __init__(self, data, *, actor, dashboard: Dashboard, today: datetime.date | None = None):
        super().__init__(data)
        self.actor = actor
        self.dashboard = dashboard
        self.today = today or timezone.localdate()
        teams = policy.scope(actor, Team.objects.all()).order_by("name")
        if not _company_wide(actor):
            teams = teams.filter(pk__in=actor.team_ids)
        self.fields["team"].choices = [("", _("All teams")), *teams.values_list("id", "name")]
        members = Membership.objects.filter(company_id=actor.company_id, is_active=True).select_related("user")
        if not _company_wide(actor):
            members = members.filter(user_id__in=actor.teammate_ids)
        self.fields["owner"].choices = [
            ("", _("Everyone")),
            *((m.user_id, m.user.get_full_name() or m.user.username) for m in members.order_by("user__username")),
        ]
        self.fields["product"].choices = [("", _("All products")), *choices_for("product", actor)]
        for name in ("team", "owner", "product"):
            if name not in dashboard.filters:
                del self.fields[name]

    def clean(self):
        data = super().clean()
        preset = data.get("preset") or ""
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if preset:
            date_from, date_to = preset_range(preset, self.today)
        else:
            default_from, default_to = (self.dashboard.default_period or default_range)(self.today)
            date_from = date_from or (date_to.replace(day=1) if date_to else default_from)
            date_to = date_to or max(default_to, date_from)
        if date_from and date_to:
            if date_from > date_to:
                self.add_error("date_to", _("The end of the period is before its start."))
            elif (date_to - date_from).days > MAX_DAYS:
                self.add_error("date_from", _("Choose a period of at most three years."))
        data["date_from"], data["date_to"] = date_from, date_to
        if data.get("granularity") not in GRANULARITIES:
            data["granularity"] = "month"
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            company=self.actor.company,
            actor=self.actor,
            date_from=data["date_from"],
            date_to=data["date_to"],
            team_id=data.get("team"),
            owner_id=data.get("owner"),
            product_id=data.get("product"),
            granularity=data["granularity"],
        )


__all__ = ["PRESETS", "FilterForm", "preset_range"]
