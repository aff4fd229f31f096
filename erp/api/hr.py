"""The HR REST API: /api/v1/erp/hr/.

* ``employees/`` (+ ``{id}/deactivate/``, ``org-chart/``, ``export/``), ``departments/``, ``positions/``,
  ``contracts/``;
* ``shifts/``, ``attendance/`` (+ ``{id}/clock-out/``, ``import/`` — multipart CSV, answers the per-row error
  report), ``leave-types/``, ``leave-balances/`` (+ ``accrue/``), ``leave-requests/`` (+ ``approve``,
  ``reject``, ``cancel``);
* ``payroll/cities/``, ``payroll/components/``, ``payroll/employee-components/``, ``payroll/commission-lines/``,
  ``payroll/runs/`` (+ ``{id}/compute/`` queues the Celery job, ``{id}/post/``), ``payroll/payslips/``;
* ``kpis/``, ``goals/`` (+ ``compute/``), ``reviews/`` (+ ``{id}/submit/``);
* ``openings/``, ``candidates/`` (+ ``{id}/move/``, ``{id}/hire/``), ``interviews/`` (+ ``{id}/feedback/``).

Sensitive fields (``id_number``, ``bank_account``, ``salary``, ``social_base``) are in the output only for the
hr and payroll roles (the policy's ``sensitive_fields``); exports never carry them. A state the record is not in
→ 409 with ``code``.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from erp.models import (
    Account,
    AttendanceRecord,
    Candidate,
    CommissionLine,
    Department,
    Employee,
    EmployeePayComponent,
    EmploymentContract,
    Goal,
    Interview,
    JobOpening,
    Kpi,
    LeaveBalance,
    LeaveRequest,
    LeaveType,
    PayComponent,
    PayrollCity,
    PayrollCityItem,
    PayrollRun,
    Payslip,
    PerformanceReview,
    Position,
    Shift,
)
from erp.models.hr import ComponentKind, ContractKind, ContributionKind, KpiSource, PayrollMode
from erp.selectors import hr as selectors
from erp.services import hr as services
from erp.services import payroll as payroll_services
from suite import policy
from suite.api.errors import error_body
from suite.api.pagination import Pagination
from suite.api.serializers import (
    CompanyUserField,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import ExportMixin, TenantModelViewSet, TenantReadOnlyViewSet

MONEY = {"max_digits": 18, "decimal_places": 2}
SALARY = {"max_digits": 10, "decimal_places": 2, "min_value": 0}


class HrViewSetMixin:
    pagination_class = Pagination

    def handle_exception(self, exc):
        if isinstance(exc, services.HrConflict | payroll_services.PayrollConflict):
            return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    def input(self, serializer_class, request):
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def permission_denied(self, request, message=None, code=None):
        """A detail route of a model the member's role may not see at all (payroll for an administrator) is a
        404, as for a record of another company: the answer says nothing about which ids exist."""
        lookup = self.lookup_url_kwarg or self.lookup_field
        actor = self.actor if request.user.is_authenticated else None
        if actor is not None and lookup in self.kwargs and not policy.can(actor, "view", self.queryset.model):
            raise Http404
        super().permission_denied(request, message=message, code=code)


# ---------------------------------------------------------------- organisation


class DepartmentOutput(OutputSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name", "name_en", "parent", "head", "is_active"]
        read_only_fields = fields


class DepartmentInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    parent = ScopedRelatedField(model=Department, required=False, allow_null=True)
    head = ScopedRelatedField(model=Employee, required=False, allow_null=True)


class DepartmentUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    parent = ScopedRelatedField(model=Department, required=False, allow_null=True)
    head = ScopedRelatedField(model=Employee, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class PositionOutput(OutputSerializer):
    class Meta:
        model = Position
        fields = ["id", "code", "name", "name_en", "department"]
        read_only_fields = fields


class PositionInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    department = ScopedRelatedField(model=Department, required=False, allow_null=True)


class PositionUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    department = ScopedRelatedField(model=Department, required=False, allow_null=True)


class EmployeeOutput(OutputSerializer):
    user = UserSummarySerializer(read_only=True)
    department_name = serializers.CharField(source="department.name", read_only=True, default="")
    position_name = serializers.CharField(source="position.name", read_only=True, default="")
    id_number = serializers.CharField(read_only=True, help_text="hr and payroll roles only.")
    bank_account = serializers.CharField(read_only=True, help_text="hr and payroll roles only.")
    salary = serializers.DecimalField(read_only=True, allow_null=True, help_text="hr and payroll only.", **MONEY)
    social_base = serializers.DecimalField(read_only=True, allow_null=True, help_text="hr and payroll only.", **MONEY)

    class Meta:
        model = Employee
        fields = [
            "id",
            "number",
            "name",
            "name_en",
            "user",
            "email",
            "phone",
            "department",
            "department_name",
            "position",
            "position_name",
            "manager",
            "hire_date",
            "leave_date",
            "is_active",
            "successor_user",
            "payroll_mode",
            "payroll_city",
            "special_deduction",
            "id_number",
            "bank_account",
            "salary",
            "social_base",
        ]
        read_only_fields = fields
        policy_model = Employee


class EmployeeUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    user = CompanyUserField(required=False, allow_null=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    department = ScopedRelatedField(model=Department, required=False, allow_null=True)
    position = ScopedRelatedField(model=Position, required=False, allow_null=True)
    manager = ScopedRelatedField(model=Employee, required=False, allow_null=True)
    hire_date = serializers.DateField(required=False)
    payroll_mode = serializers.ChoiceField(choices=PayrollMode.choices, required=False)
    payroll_city = ScopedRelatedField(model=PayrollCity, required=False, allow_null=True)
    special_deduction = serializers.DecimalField(required=False, **SALARY)
    id_number = serializers.CharField(max_length=30, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=40, required=False, allow_blank=True)
    salary = serializers.DecimalField(required=False, allow_null=True, **SALARY)
    social_base = serializers.DecimalField(required=False, allow_null=True, **SALARY)


class EmployeeInput(EmployeeUpdateInput):
    number = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    hire_date = serializers.DateField()


class EmployeeDeactivateInput(InputSerializer):
    leave_date = serializers.DateField(required=False)
    successor_user = CompanyUserField(required=False, allow_null=True)


class EmployeeOrgNode(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    position = serializers.CharField(allow_null=True)
    reports = serializers.ListField(child=serializers.DictField())


def _org(nodes) -> list[dict]:
    return [
        {
            "id": n.employee.pk,
            "number": n.employee.number,
            "name": n.employee.name,
            "position": n.employee.position.name if n.employee.position else None,
            "reports": _org(n.reports),
        }
        for n in nodes
    ]


class EmployeeViewSet(HrViewSetMixin, ExportMixin, TenantModelViewSet):
    """Employees: the directory for every member, personal data for hr and payroll only."""

    queryset = Employee.objects.select_related("user", "department", "position")
    output_serializer_class = EmployeeOutput
    input_serializer_class = EmployeeInput
    update_input_serializer_class = EmployeeUpdateInput
    filterset_fields = ("department", "is_active", "manager")
    search_fields = ("number", "name", "name_en")
    ordering_fields = ("number", "name", "hire_date")
    ordering = ("number",)
    policy_actions = {"deactivate": "deactivate", "org_chart": "view"}
    export_fields = (
        "number",
        "name",
        "name_en",
        "email",
        "phone",
        "department__name",
        "position__name",
        "hire_date",
        "leave_date",
        "is_active",
    )

    def create_object(self, *, actor, data):
        return services.employee_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.employee_update(employee=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.employee_deactivate(employee=instance, by=actor.user)

    @extend_schema(request=EmployeeDeactivateInput, responses={200: EmployeeOutput})
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """The employee leaves; publishes ``erp.employee.deactivated`` with the successor for CRM handover."""
        employee = self.get_object()
        data = self.input(EmployeeDeactivateInput, request)
        return Response(self.output(services.employee_deactivate(employee=employee, by=request.user, **data)))

    @extend_schema(responses={200: EmployeeOrgNode(many=True)})
    @action(detail=False, methods=["get"], url_path="org-chart", pagination_class=None)
    def org_chart(self, request):
        """Active employees as trees by manager."""
        return Response(_org(selectors.org_chart(self.actor)))


class DepartmentViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Department.objects.all()
    output_serializer_class = DepartmentOutput
    input_serializer_class = DepartmentInput
    update_input_serializer_class = DepartmentUpdateInput
    search_fields = ("code", "name")
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return services.department_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.department_update(department=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.department_update(department=instance, by=actor.user, is_active=False)


class PositionViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Position.objects.all()
    output_serializer_class = PositionOutput
    input_serializer_class = PositionInput
    update_input_serializer_class = PositionUpdateInput
    search_fields = ("code", "name")
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return services.position_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.position_update(position=instance, by=actor.user, **data)


class EmploymentContractOutput(OutputSerializer):
    class Meta:
        model = EmploymentContract
        fields = ["id", "employee", "number", "kind", "start_date", "end_date", "probation_end", "weekly_hours"]
        read_only_fields = fields


class EmploymentContractInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee)
    number = serializers.CharField(max_length=30)
    kind = serializers.ChoiceField(choices=ContractKind.choices, required=False)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    probation_end = serializers.DateField(required=False, allow_null=True)
    weekly_hours = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, required=False)


class ContractViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = EmploymentContract.objects.all()
    output_serializer_class = EmploymentContractOutput
    input_serializer_class = EmploymentContractInput
    filterset_fields = ("employee", "kind")
    ordering = ("-start_date",)

    def create_object(self, *, actor, data):
        return services.contract_create(by=actor.user, **data)


# ---------------------------------------------------------------- attendance and leave


class HrShiftOutput(OutputSerializer):
    class Meta:
        model = Shift
        fields = ["id", "code", "name", "start_time", "end_time", "break_minutes", "workdays"]
        read_only_fields = fields


class HrShiftInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    start_time = serializers.TimeField()
    end_time = serializers.TimeField()
    break_minutes = serializers.IntegerField(min_value=0, max_value=600, required=False)
    workdays = serializers.CharField(max_length=7, required=False)


class ShiftViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Shift.objects.all()
    output_serializer_class = HrShiftOutput
    input_serializer_class = HrShiftInput
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return services.shift_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.shift_update(shift=instance, by=actor.user, **data)


class AttendanceOutput(OutputSerializer):
    employee_name = serializers.CharField(source="employee.name", read_only=True)

    class Meta:
        model = AttendanceRecord
        fields = [
            "id",
            "employee",
            "employee_name",
            "work_date",
            "shift",
            "clock_in",
            "clock_out",
            "source",
            "worked_minutes",
            "overtime_minutes",
        ]
        read_only_fields = fields


class AttendanceInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee)
    clock_in = serializers.DateTimeField()
    clock_out = serializers.DateTimeField(required=False, allow_null=True)
    shift = ScopedRelatedField(model=Shift, required=False, allow_null=True)


class ClockOutInput(InputSerializer):
    clock_out = serializers.DateTimeField()


class AttendanceImportInput(InputSerializer):
    file = serializers.FileField(help_text="CSV: employee_number, clock_in, clock_out[, shift].")


class AttendanceImportReport(serializers.Serializer):
    created = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())


class AttendanceViewSet(HrViewSetMixin, ExportMixin, TenantModelViewSet):
    """Clock records: one's own for every member, all for hr, managers and admins."""

    queryset = AttendanceRecord.objects.select_related("employee")
    output_serializer_class = AttendanceOutput
    input_serializer_class = AttendanceInput
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    filterset_fields = ("employee", "work_date", "source")
    ordering_fields = ("work_date", "clock_in")
    ordering = ("-clock_in",)
    policy_actions = {"clock_out": "clock", "import_csv": "import"}
    export_fields = ("employee__number", "employee__name", "work_date", "clock_in", "clock_out", "worked_minutes",
                     "overtime_minutes")  # fmt: skip

    def create_object(self, *, actor, data):
        return services.attendance_record(by=actor.user, **data)

    @extend_schema(request=ClockOutInput, responses={200: AttendanceOutput})
    @action(detail=True, methods=["post"], url_path="clock-out")
    def clock_out(self, request, pk=None):
        record = self.get_object()
        data = self.input(ClockOutInput, request)
        return Response(self.output(services.attendance_clock_out(record=record, by=request.user, **data)))

    @extend_schema(request={"multipart/form-data": AttendanceImportInput}, responses={200: AttendanceImportReport})
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request):
        """Import a time clock's CSV; good rows are kept, each bad row is reported with its number."""
        data = self.input(AttendanceImportInput, request)
        report = services.attendance_import_csv(company=self.actor.company, fileobj=data["file"], by=request.user)
        errors = [{"row": row, "message": str(message)} for row, message in report.errors]
        return Response({"created": report.created, "errors": errors})


class LeaveTypeOutput(OutputSerializer):
    class Meta:
        model = LeaveType
        fields = ["id", "code", "name", "annual_days", "is_paid", "needs_balance"]
        read_only_fields = fields


class LeaveTypeInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    annual_days = serializers.DecimalField(max_digits=7, decimal_places=2, min_value=0, required=False)
    is_paid = serializers.BooleanField(required=False)
    needs_balance = serializers.BooleanField(required=False)

    class Meta:
        writable_protected = ("needs_balance",)


class LeaveTypeViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = LeaveType.objects.all()
    output_serializer_class = LeaveTypeOutput
    input_serializer_class = LeaveTypeInput
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return services.leave_type_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.leave_type_update(leave_type=instance, by=actor.user, **data)


class LeaveBalanceOutput(OutputSerializer):
    remaining = serializers.DecimalField(max_digits=7, decimal_places=2, read_only=True)

    class Meta:
        model = LeaveBalance
        fields = ["id", "employee", "leave_type", "year", "accrued", "taken", "remaining"]
        read_only_fields = fields


class LeaveAccrueInput(InputSerializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)


class LeaveBalanceViewSet(HrViewSetMixin, TenantReadOnlyViewSet):
    queryset = LeaveBalance.objects.all()
    output_serializer_class = LeaveBalanceOutput
    pagination_class = Pagination
    filterset_fields = ("employee", "leave_type", "year")
    ordering = ("employee", "leave_type")
    policy_actions = {"accrue": "accrue"}

    @extend_schema(
        request=LeaveAccrueInput,
        responses={200: inline_serializer("AccrueResult", {"written": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"])
    def accrue(self, request):
        """Accrue the year's days of every balance-limited leave type for every active employee (idempotent)."""
        data = self.input(LeaveAccrueInput, request)
        return Response({"written": services.leave_accrue(company=self.actor.company, by=request.user, **data)})


class LeaveRequestOutput(OutputSerializer):
    decided_by = UserSummarySerializer(read_only=True)

    class Meta:
        model = LeaveRequest
        fields = ["id", "employee", "leave_type", "start_date", "end_date", "days", "reason", "state",
                  "decided_by", "decided_at", "decision_note"]  # fmt: skip
        read_only_fields = fields


class LeaveRequestInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee, required=False, help_text="Default: the caller's own record.")
    leave_type = ScopedRelatedField(model=LeaveType)
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class LeaveDecisionInput(InputSerializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class LeaveRequestViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = LeaveRequest.objects.select_related("decided_by")
    output_serializer_class = LeaveRequestOutput
    input_serializer_class = LeaveRequestInput
    filterset_fields = ("employee", "state", "leave_type")
    ordering = ("-start_date", "-id")
    policy_actions = {"approve": "approve", "reject": "approve", "cancel": "cancel"}

    def create_object(self, *, actor, data):
        from django.core.exceptions import ValidationError
        from django.utils.translation import gettext as _

        employee = data.pop("employee", None) or selectors.employee_of_user(actor)
        if employee is None:
            raise ValidationError({"employee": [_("Your login is not linked to an employee record.")]})
        if actor.role not in ("hr", "admin") and employee.user_id != actor.user.pk:
            raise ValidationError({"employee": [_("You may ask leave for yourself only.")]})
        return services.leave_request_create(employee=employee, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.leave_request_cancel(request=instance, by=actor.user)

    @extend_schema(request=LeaveDecisionInput, responses={200: LeaveRequestOutput})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve (the employee's manager, hr or an administrator); takes the days from the balance."""
        leave = self.get_object()
        data = self.input(LeaveDecisionInput, request)
        return Response(self.output(services.leave_request_approve(request=leave, by=request.user, **data)))

    @extend_schema(request=LeaveDecisionInput, responses={200: LeaveRequestOutput})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        leave = self.get_object()
        data = self.input(LeaveDecisionInput, request)
        return Response(
            self.output(services.leave_request_reject(request=leave, by=request.user, note=data.get("note", "")))
        )

    @extend_schema(request=None, responses={200: LeaveRequestOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(self.output(services.leave_request_cancel(request=self.get_object(), by=request.user)))


# ---------------------------------------------------------------- payroll


class PayrollCityItemOutput(OutputSerializer):
    class Meta:
        model = PayrollCityItem
        fields = ["code", "kind", "floor", "cap", "employee_rate", "employer_rate"]
        read_only_fields = fields


class PayrollCityItemInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    kind = serializers.ChoiceField(choices=ContributionKind.choices)
    floor = serializers.DecimalField(min_value=0, **MONEY)
    cap = serializers.DecimalField(min_value=0, **MONEY)
    employee_rate = serializers.DecimalField(max_digits=7, decimal_places=5, min_value=0, max_value=Decimal("0.99999"))
    employer_rate = serializers.DecimalField(max_digits=7, decimal_places=5, min_value=0, max_value=Decimal("0.99999"))


class PayrollCityOutput(OutputSerializer):
    items = PayrollCityItemOutput(many=True, read_only=True)

    class Meta:
        model = PayrollCity
        fields = ["id", "code", "name", "valid_from", "items"]
        read_only_fields = fields


class PayrollCityInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    valid_from = serializers.DateField(required=False, allow_null=True)
    items = PayrollCityItemInput(many=True, allow_empty=False, max_length=20)


class PayrollCityUpdateInput(InputSerializer):
    items = PayrollCityItemInput(many=True, allow_empty=False, max_length=20)


class PayrollCityViewSet(HrViewSetMixin, TenantModelViewSet):
    """City tables of social insurance and housing fund: base floor/cap and rates per item."""

    queryset = PayrollCity.objects.prefetch_related("items")
    output_serializer_class = PayrollCityOutput
    input_serializer_class = PayrollCityInput
    update_input_serializer_class = PayrollCityUpdateInput
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return payroll_services.payroll_city_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return payroll_services.payroll_city_items_set(city=instance, items=data["items"], by=actor.user)


class PayComponentOutput(OutputSerializer):
    class Meta:
        model = PayComponent
        fields = ["id", "code", "name", "kind", "taxable", "rate", "account", "is_active"]
        read_only_fields = fields


class PayComponentInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ComponentKind.choices)
    taxable = serializers.BooleanField(required=False)
    rate = serializers.DecimalField(max_digits=7, decimal_places=5, min_value=0, required=False, allow_null=True)
    account = ScopedRelatedField(model=Account, required=False, allow_null=True)


class PayComponentUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    taxable = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class PayComponentViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = PayComponent.objects.all()
    output_serializer_class = PayComponentOutput
    input_serializer_class = PayComponentInput
    update_input_serializer_class = PayComponentUpdateInput
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return payroll_services.pay_component_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return payroll_services.pay_component_update(component=instance, by=actor.user, **data)


class EmployeeComponentOutput(OutputSerializer):
    class Meta:
        model = EmployeePayComponent
        fields = ["id", "employee", "component", "amount"]
        read_only_fields = fields


class EmployeeComponentInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee)
    component = ScopedRelatedField(model=PayComponent)
    amount = serializers.DecimalField(min_value=0, **MONEY)

    class Meta:
        writable_protected = ("amount",)


class EmployeePayComponentViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = EmployeePayComponent.objects.all()
    output_serializer_class = EmployeeComponentOutput
    input_serializer_class = EmployeeComponentInput
    filterset_fields = ("employee", "component")
    ordering = ("employee", "component")

    def create_object(self, *, actor, data):
        return payroll_services.employee_pay_component_set(by=actor.user, **data)


class CommissionLineOutput(OutputSerializer):
    class Meta:
        model = CommissionLine
        fields = ["id", "employee", "year", "month", "reference", "amount"]
        read_only_fields = fields


class CommissionLineViewSet(HrViewSetMixin, TenantReadOnlyViewSet):
    """Commission lines per month (written by ``payroll_commission_lines_set``, the CRM loop)."""

    queryset = CommissionLine.objects.all()
    output_serializer_class = CommissionLineOutput
    pagination_class = Pagination
    filterset_fields = ("employee", "year", "month")
    ordering = ("-year", "-month", "employee")


class PayrollRunOutput(OutputSerializer):
    class Meta:
        model = PayrollRun
        fields = ["id", "year", "month", "state", "progress", "employees_done", "employees_total", "error",
                  "total_gross", "total_net", "total_employer_cost", "computed_at", "journal_entry"]  # fmt: skip
        read_only_fields = fields


class PayrollRunInput(InputSerializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    month = serializers.IntegerField(min_value=1, max_value=12)


class PayrollPostInput(InputSerializer):
    date = serializers.DateField(required=False)


class PayrollRunViewSet(HrViewSetMixin, TenantModelViewSet):
    """Monthly runs: ``compute`` queues the Celery job (poll ``progress``), ``post`` books it to the ledger."""

    queryset = PayrollRun.objects.all()
    output_serializer_class = PayrollRunOutput
    input_serializer_class = PayrollRunInput
    filterset_fields = ("year", "state")
    ordering = ("-year", "-month")
    policy_actions = {"compute": "compute", "post": "post"}

    def create_object(self, *, actor, data):
        return payroll_services.payroll_run_create(company=actor.company, by=actor.user, **data)

    @extend_schema(request=None, responses={202: PayrollRunOutput})
    @action(detail=True, methods=["post"])
    def compute(self, request, pk=None):
        run = payroll_services.payroll_run_start(run=self.get_object(), by=request.user)
        return Response(self.output(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=PayrollPostInput, responses={200: PayrollRunOutput})
    @action(detail=True, methods=["post"])
    def post(self, request, pk=None):
        run = self.get_object()
        data = self.input(PayrollPostInput, request)
        return Response(self.output(payroll_services.payroll_run_post(run=run, by=request.user, **data)))


class PayslipOutput(OutputSerializer):
    employee_number = serializers.CharField(source="employee.number", read_only=True)
    employee_name = serializers.CharField(source="employee.name", read_only=True)

    class Meta:
        model = Payslip
        fields = ["id", "run", "employee", "employee_number", "employee_name", "mode", "gross", "taxable_gross",
                  "si_employee", "si_employer", "hf_employee", "hf_employer", "other_deductions", "iit", "net",
                  "ytd_months", "ytd_gross", "ytd_tax", "lines"]  # fmt: skip
        read_only_fields = fields


class PayslipViewSet(HrViewSetMixin, ExportMixin, TenantReadOnlyViewSet):
    queryset = Payslip.objects.select_related("employee")
    output_serializer_class = PayslipOutput
    pagination_class = Pagination
    filterset_fields = ("run", "employee")
    ordering = ("employee",)
    export_fields = ("run__year", "run__month", "employee__number", "employee__name", "gross", "si_employee",
                     "hf_employee", "iit", "other_deductions", "net")  # fmt: skip


# ---------------------------------------------------------------- performance


class KpiOutput(OutputSerializer):
    class Meta:
        model = Kpi
        fields = ["id", "code", "name", "source", "higher_is_better"]
        read_only_fields = fields


class KpiInput(InputSerializer):
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=100)
    source = serializers.ChoiceField(choices=KpiSource.choices, required=False)
    higher_is_better = serializers.BooleanField(required=False)


class KpiViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Kpi.objects.all()
    output_serializer_class = KpiOutput
    input_serializer_class = KpiInput
    ordering = ("code",)

    def create_object(self, *, actor, data):
        return services.kpi_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.kpi_update(kpi=instance, by=actor.user, **data)


class GoalOutput(OutputSerializer):
    attainment = serializers.DecimalField(max_digits=9, decimal_places=1, read_only=True, allow_null=True)

    class Meta:
        model = Goal
        fields = ["id", "employee", "kpi", "period_start", "period_end", "target", "actual", "weight",
                  "attainment", "computed_at"]  # fmt: skip
        read_only_fields = fields


class GoalInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee)
    kpi = ScopedRelatedField(model=Kpi)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    target = serializers.DecimalField(**MONEY)
    weight = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, required=False)
    actual = serializers.DecimalField(required=False, allow_null=True, **MONEY)


class GoalUpdateInput(InputSerializer):
    target = serializers.DecimalField(required=False, **MONEY)
    weight = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, required=False)
    actual = serializers.DecimalField(required=False, allow_null=True, **MONEY)


class GoalViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Goal.objects.all()
    output_serializer_class = GoalOutput
    input_serializer_class = GoalInput
    update_input_serializer_class = GoalUpdateInput
    filterset_fields = ("employee", "kpi")
    ordering = ("-period_start", "employee")
    policy_actions = {"compute": "compute"}

    def create_object(self, *, actor, data):
        return services.goal_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.goal_update(goal=instance, by=actor.user, **data)

    @extend_schema(
        request=None, responses={200: inline_serializer("GoalsComputed", {"updated": serializers.IntegerField()})}
    )
    @action(detail=False, methods=["post"])
    def compute(self, request):
        """Fill the actuals of goals with a computed KPI source (CRM, production)."""
        return Response({"updated": services.goals_compute(company=self.actor.company, by=request.user)})


class PerformanceReviewOutput(OutputSerializer):
    reviewer = UserSummarySerializer(read_only=True)

    class Meta:
        model = PerformanceReview
        fields = ["id", "employee", "reviewer", "period_start", "period_end", "rating", "summary", "state"]
        read_only_fields = fields


class PerformanceReviewInput(InputSerializer):
    employee = ScopedRelatedField(model=Employee)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    rating = serializers.IntegerField(min_value=1, max_value=5)
    summary = serializers.CharField(required=False, allow_blank=True)


class ReviewViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = PerformanceReview.objects.select_related("reviewer")
    output_serializer_class = PerformanceReviewOutput
    input_serializer_class = PerformanceReviewInput
    filterset_fields = ("employee", "state")
    ordering = ("-period_start",)
    policy_actions = {"submit": "submit"}

    def create_object(self, *, actor, data):
        return services.review_create(reviewer=actor.user, by=actor.user, **data)

    @extend_schema(request=None, responses={200: PerformanceReviewOutput})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return Response(self.output(services.review_submit(review=self.get_object(), by=request.user)))


# ---------------------------------------------------------------- recruiting


class JobOpeningOutput(OutputSerializer):
    class Meta:
        model = JobOpening
        fields = ["id", "title", "department", "position", "headcount", "hired", "state"]
        read_only_fields = fields


class JobOpeningInput(InputSerializer):
    title = serializers.CharField(max_length=200)
    department = ScopedRelatedField(model=Department, required=False, allow_null=True)
    position = ScopedRelatedField(model=Position, required=False, allow_null=True)
    headcount = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class OpeningViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = JobOpening.objects.all()
    output_serializer_class = JobOpeningOutput
    input_serializer_class = JobOpeningInput
    filterset_fields = ("state", "department")
    ordering = ("-created_at",)

    def create_object(self, *, actor, data):
        return services.opening_create(company=actor.company, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.opening_close(opening=instance, by=actor.user)


class CandidateOutput(OutputSerializer):
    class Meta:
        model = Candidate
        fields = ["id", "opening", "name", "email", "phone", "stage", "employee", "notes", "created_at"]
        read_only_fields = fields


class CandidateInput(InputSerializer):
    opening = ScopedRelatedField(model=JobOpening)
    name = serializers.CharField(max_length=100)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class CandidateMoveInput(InputSerializer):
    stage = serializers.ChoiceField(choices=["screening", "interview", "offer", "rejected"])


class CandidateHireInput(InputSerializer):
    number = serializers.CharField(max_length=30)
    hire_date = serializers.DateField()
    salary = serializers.DecimalField(required=False, allow_null=True, **SALARY)
    manager = ScopedRelatedField(model=Employee, required=False, allow_null=True)
    payroll_city = ScopedRelatedField(model=PayrollCity, required=False, allow_null=True)


class CandidateViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Candidate.objects.all()
    output_serializer_class = CandidateOutput
    input_serializer_class = CandidateInput
    filterset_fields = ("opening", "stage")
    search_fields = ("name", "email")
    ordering = ("-created_at",)
    policy_actions = {"move": "move", "hire": "hire"}

    def create_object(self, *, actor, data):
        return services.candidate_create(by=actor.user, **data)

    @extend_schema(request=CandidateMoveInput, responses={200: CandidateOutput})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        candidate = self.get_object()
        data = self.input(CandidateMoveInput, request)
        return Response(self.output(services.candidate_move(candidate=candidate, by=request.user, **data)))

    @extend_schema(request=CandidateHireInput, responses={201: EmployeeOutput})
    @action(detail=True, methods=["post"])
    def hire(self, request, pk=None):
        """Offer accepted → a new employee (one transaction); the opening counts the hire."""
        candidate = self.get_object()
        data = self.input(CandidateHireInput, request)
        employee = services.candidate_hire(candidate=candidate, by=request.user, **data)
        return Response(EmployeeOutput(employee, context=self.get_serializer_context()).data, status=201)


class InterviewOutput(OutputSerializer):
    interviewer = UserSummarySerializer(read_only=True)

    class Meta:
        model = Interview
        fields = ["id", "candidate", "interviewer", "scheduled_at", "rating", "feedback"]
        read_only_fields = fields


class InterviewInput(InputSerializer):
    candidate = ScopedRelatedField(model=Candidate)
    interviewer = CompanyUserField()
    scheduled_at = serializers.DateTimeField()


class InterviewFeedbackInput(InputSerializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    feedback = serializers.CharField(required=False, allow_blank=True)


class InterviewViewSet(HrViewSetMixin, TenantModelViewSet):
    queryset = Interview.objects.select_related("interviewer")
    output_serializer_class = InterviewOutput
    input_serializer_class = InterviewInput
    filterset_fields = ("candidate",)
    ordering = ("scheduled_at",)
    policy_actions = {"feedback": "change"}

    def create_object(self, *, actor, data):
        return services.interview_schedule(by=actor.user, **data)

    @extend_schema(request=InterviewFeedbackInput, responses={200: InterviewOutput})
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        interview = self.get_object()
        data = self.input(InterviewFeedbackInput, request)
        return Response(self.output(services.interview_feedback(interview=interview, by=request.user, **data)))


router = SimpleRouter()
router.register("employees", EmployeeViewSet, basename="erp-hr-employee")
router.register("departments", DepartmentViewSet, basename="erp-hr-department")
router.register("positions", PositionViewSet, basename="erp-hr-position")
router.register("contracts", ContractViewSet, basename="erp-hr-contract")
router.register("shifts", ShiftViewSet, basename="erp-hr-shift")
router.register("attendance", AttendanceViewSet, basename="erp-hr-attendance")
router.register("leave-types", LeaveTypeViewSet, basename="erp-hr-leave-type")
router.register("leave-balances", LeaveBalanceViewSet, basename="erp-hr-leave-balance")
router.register("leave-requests", LeaveRequestViewSet, basename="erp-hr-leave-request")
router.register("payroll/cities", PayrollCityViewSet, basename="erp-hr-payroll-city")
router.register("payroll/components", PayComponentViewSet, basename="erp-hr-pay-component")
router.register("payroll/employee-components", EmployeePayComponentViewSet, basename="erp-hr-employee-component")
router.register("payroll/commission-lines", CommissionLineViewSet, basename="erp-hr-commission-line")
router.register("payroll/runs", PayrollRunViewSet, basename="erp-hr-payroll-run")
router.register("payroll/payslips", PayslipViewSet, basename="erp-hr-payslip")
router.register("kpis", KpiViewSet, basename="erp-hr-kpi")
router.register("goals", GoalViewSet, basename="erp-hr-goal")
router.register("reviews", ReviewViewSet, basename="erp-hr-review")
router.register("openings", OpeningViewSet, basename="erp-hr-opening")
router.register("candidates", CandidateViewSet, basename="erp-hr-candidate")
router.register("interviews", InterviewViewSet, basename="erp-hr-interview")

urlpatterns = [*router.urls]
