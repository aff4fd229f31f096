"""The HR dashboard (issue #7): headcount by department and its trend (hires, leavers), attendance (absence rate,
late arrivals) and — for the hr and payroll roles only, as the payroll policy says — payroll cost per month, in
aggregate. A manager sees the people of the departments they head and their reports only.

Registered from ``ErpConfig.ready()``; figures come from ``erp.selectors.dashboards_hr``."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from erp.selectors import dashboards_hr as selectors
from suite import dashboards
from suite.dashboards import KPI, Chart, Dashboard, Filters, Series, Table
from suite.models import Role

ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.HR, Role.PAYROLL})


def _url(name: str, **params) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def build(filters: Filters) -> list:
    """The widgets of the HR dashboard. Seven queries at most whatever the data."""
    actor = filters.actor
    people = selectors.people_in_view(actor)
    periods = filters.periods()
    departments = selectors.headcount_by_department(people, on=filters.date_to)
    trend = selectors.headcount_trend(people, periods)
    attendance = selectors.attendance_figures(actor, people, date_from=filters.date_from, date_to=filters.date_to)
    payroll = selectors.payroll_cost(actor, date_from=filters.date_from, date_to=filters.date_to)
    total = attendance[-1]
    employees = "erp:hr-employee-list"
    span = {"date_from": filters.date_from.isoformat(), "date_to": filters.date_to.isoformat()}
    widgets = [
        KPI(
            "headcount",
            _("Headcount"),
            sum(row.headcount for row in departments),
            drill_url=_url(employees, employed_on=filters.date_to.isoformat()),
        ),
        KPI(
            "hires",
            _("Hires"),
            sum(bucket.hires for bucket in trend),
            drill_url=_url(employees, hired_from=span["date_from"], hired_to=span["date_to"]),
        ),
        KPI(
            "leavers",
            _("Leavers"),
            sum(bucket.leavers for bucket in trend),
            drill_url=_url(employees, left_from=span["date_from"], left_to=span["date_to"]),
        ),
        KPI(
            "absence_rate",
            _("Absence rate"),
            total.absence_rate,
            unit="%",
            drill_url=_url("erp:hr-attendance", **span),
            hint=_("%(absent)s of %(expected)s working days")
            % {"absent": total.absent_days, "expected": total.expected_days},
        ),
        KPI("late_arrivals", _("Late arrivals"), total.late_count, drill_url=_url("erp:hr-attendance", late=1, **span)),
        Chart(
            "headcount_by_department",
            _("Headcount per department"),
            "bar",
            [row.name or str(_("No department")) for row in departments],
            [
                Series(
                    _("People"),
                    [row.headcount for row in departments],
                    [
                        _url(employees, department=row.department_id or "none", employed_on=filters.date_to.isoformat())
                        for row in departments
                    ],
                )
            ],
        ),
        Chart(
            "headcount_trend",
            _("Headcount, hires and leavers"),
            "line",
            [bucket.label for bucket in trend],
            [
                Series(
                    _("Headcount"),
                    [bucket.headcount for bucket in trend],
                    [_url(employees, employed_on=bucket.end.isoformat()) for bucket in trend],
                ),
                Series(
                    _("Hires"),
                    [bucket.hires for bucket in trend],
                    [
                        _url(employees, hired_from=bucket.start.isoformat(), hired_to=bucket.end.isoformat())
                        for bucket in trend
                    ],
                ),
                Series(
                    _("Leavers"),
                    [bucket.leavers for bucket in trend],
                    [
                        _url(employees, left_from=bucket.start.isoformat(), left_to=bucket.end.isoformat())
                        for bucket in trend
                    ],
                ),
            ],
        ),
        Table(
            "attendance_by_department",
            _("Attendance per department"),
            [
                _("Department"),
                _("Working days"),
                _("Present"),
                _("On leave"),
                _("Absent"),
                _("Absence rate %"),
                _("Late arrivals"),
            ],
            [
                [
                    row.name or str(_("No department")),
                    row.expected_days,
                    row.present_days,
                    row.leave_days,
                    row.absent_days,
                    row.absence_rate,
                    row.late_count,
                ]
                for row in attendance[:-1]
            ],
            [_url("erp:hr-attendance", department=row.department_id or "none", **span) for row in attendance[:-1]],
        ),
    ]
    if payroll is not None:
        months = {f"{month.year}-{month.month:02d}": month for month in payroll}
        labels = [label for label, _start, _end in filters.with_(granularity="month").periods()]
        runs = reverse("erp:hr-payroll-runs")
        widgets += [
            KPI(
                "payroll_cost",
                _("Payroll cost (employer)"),
                selectors.payroll_total(payroll),
                money=True,
                drill_url=runs,
            ),
            Chart(
                "payroll_cost_by_month",
                _("Payroll cost per month"),
                "bar",
                labels,
                [
                    Series(_("Gross pay"), [months[label].gross if label in months else None for label in labels]),
                    Series(
                        _("Employer cost"),
                        [months[label].employer_cost if label in months else None for label in labels],
                        [runs for _label in labels],
                    ),
                ],
                money=True,
            ),
        ]
    return widgets


dashboards.register(
    Dashboard(
        "hr",
        _("HR"),
        build,
        module="erp_hr",
        roles=ROLES,
        filters=frozenset({"period"}),
        order=70,
        description=_("Headcount, attendance and (for HR and payroll) payroll cost."),
    )
)
