"""``GET /api/v1/erp/promise/``: the explained promise (issue #7, flow 9) — the earliest day a quantity of a
product can be delivered and the steps that reach it (free stock, confirmed purchase receipts by date, open
production by its finite-capacity schedule). Read only; bad input is a 400 naming the field; a product or
warehouse of another company (or one the caller may not see) is unknown."""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from erp.models import Product, QuoteReservation, Warehouse
from erp.selectors.promise import StepKind, explain_promise
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantReadOnlyViewSet

QUANTITY = {"max_digits": 18, "decimal_places": 4}
QUANTUM = Decimal("0.0001")


def _q(value: Decimal) -> str:
    return str(value.quantize(QUANTUM))


class PromiseQuery(InputSerializer):
    product = ScopedRelatedField(model=Product, help_text=_("The product (id)."))
    quantity = serializers.DecimalField(**QUANTITY, help_text=_("How much the customer wants, in the stock unit."))
    warehouse = ScopedRelatedField(
        model=Warehouse, required=False, allow_null=True, help_text=_("Deliver from this warehouse (default: all).")
    )

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError(_("Enter a quantity greater than 0."))
        return value


PromiseOutput = inline_serializer(
    "ExplainedPromise",
    fields={
        "product": serializers.IntegerField(),
        "sku": serializers.CharField(),
        "warehouse": serializers.IntegerField(allow_null=True),
        "quantity": serializers.DecimalField(**QUANTITY),
        "promised_date": serializers.DateField(
            allow_null=True, help_text=_("Null: the known supply does not cover it.")
        ),
        "shortfall": serializers.DecimalField(**QUANTITY),
        "soft_reserved": serializers.DecimalField(
            **QUANTITY, help_text=_("Free stock held back for other customers' accepted quotes until they expire.")
        ),
        "steps": inline_serializer(
            "ExplainedPromiseStep",
            fields={
                "position": serializers.IntegerField(),
                "kind": serializers.ChoiceField(
                    choices=[StepKind.FREE_STOCK, StepKind.PURCHASE, StepKind.PRODUCTION, StepKind.SERVICE]
                ),
                "date": serializers.DateField(),
                "available": serializers.DecimalField(**QUANTITY),
                "quantity": serializers.DecimalField(**QUANTITY, help_text=_("What this step contributes.")),
                "cumulative": serializers.DecimalField(**QUANTITY),
                "reference": serializers.CharField(),
                "scheduled": serializers.BooleanField(),
                "explanation": serializers.CharField(),
            },
            many=True,
        ),
    },
)


def _explain(step) -> str:
    figures = {"quantity": f"{step.quantity.normalize():f}", "date": step.date.isoformat(), "reference": step.reference}
    if step.kind == StepKind.FREE_STOCK:
        return str(_("%(quantity)s from free stock, today") % figures)
    if step.kind == StepKind.PURCHASE:
        return str(_("%(quantity)s from purchase receipt %(reference)s due %(date)s") % figures)
    if step.kind == StepKind.PRODUCTION:
        if step.scheduled:
            return str(_("%(quantity)s from production order %(reference)s, scheduled to finish %(date)s") % figures)
        return str(_("%(quantity)s from production order %(reference)s, due %(date)s (not scheduled yet)") % figures)
    return str(_("a service: deliverable from %(date)s") % figures)


class PromiseView(APIView):
    """The earliest date ``quantity`` of ``product`` can be delivered (from ``warehouse``, default all) and how
    it was reached: ordered steps — free stock now, then confirmed purchase receipts by due date, then open
    production orders by the completion the work-centre capacity schedule gives them (free stock net of other
    customers' accepted quotes until they expire: ``soft_reserved``) — each with what it
    contributes and the running total. ``promised_date`` is null (with the ``shortfall``) when the known
    supply does not cover the quantity."""

    permission_classes = [PolicyPermission]
    policy_model = Product
    policy_action = "view"

    @extend_schema(
        parameters=[PromiseQuery],
        responses={200: PromiseOutput},
        examples=[
            OpenApiExample(
                "Free stock 5 and a purchase of 10 in 7 days, 12 wanted",
                response_only=True,
                value={
                    "product": 17,
                    "sku": "GEAR-1",
                    "warehouse": 2,
                    "quantity": "12.0000",
                    "promised_date": "2026-12-04",
                    "shortfall": "0.0000",
                    "soft_reserved": "0.0000",
                    "steps": [
                        {
                            "position": 1,
                            "kind": "free_stock",
                            "date": "2026-11-27",
                            "available": "5.0000",
                            "quantity": "5.0000",
                            "cumulative": "5.0000",
                            "reference": "",
                            "scheduled": False,
                            "explanation": "5 from free stock, today",
                        },
                        {
                            "position": 2,
                            "kind": "purchase",
                            "date": "2026-12-04",
                            "available": "10.0000",
                            "quantity": "7.0000",
                            "cumulative": "12.0000",
                            "reference": "PO00031/1",
                            "scheduled": False,
                            "explanation": "7 from purchase receipt PO00031/1 due 2026-12-04",
                        },
                    ],
                },
            )
        ],
    )
    def get(self, request):
        actor = request_actor(request)
        query = PromiseQuery(data=request.query_params, context={"request": request, "actor": actor, "view": self})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        product = data["product"]
        promise = explain_promise(
            company=actor.company_id, product=product, quantity=data["quantity"], warehouse=data.get("warehouse")
        )
        return Response(
            {
                "product": product.pk,
                "sku": product.sku,
                "warehouse": promise.warehouse_id,
                "quantity": _q(promise.quantity),
                "promised_date": promise.promised_date.isoformat() if promise.promised_date else None,
                "shortfall": _q(promise.shortfall),
                "soft_reserved": _q(promise.soft_reserved),
                "steps": [
                    {
                        "position": position,
                        "kind": step.kind,
                        "date": step.date.isoformat(),
                        "available": _q(step.available),
                        "quantity": _q(step.quantity),
                        "cumulative": _q(step.cumulative),
                        "reference": step.reference,
                        "scheduled": step.scheduled,
                        "explanation": _explain(step),
                    }
                    for position, step in enumerate(promise.steps, start=1)
                ],
            }
        )


class QuoteReservationOutput(OutputSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)

    class Meta:
        model = QuoteReservation
        fields = [
            "id",
            "product",
            "sku",
            "warehouse",
            "quantity",
            "crm_quote_id",
            "crm_quote_number",
            "crm_opportunity_id",
            "expires_on",
            "state",
        ]
        read_only_fields = fields


class QuoteReservationViewSet(TenantReadOnlyViewSet):
    """Soft reservations of accepted CRM quotes (read only: placed when a quote is accepted, consumed when its
    deal becomes a sales order, released when it is lost, ignored after ``expires_on``). The explained promise
    holds their quantities back from other customers."""

    queryset = QuoteReservation.objects.select_related("product")
    output_serializer_class = QuoteReservationOutput
    filterset_fields = ("product", "warehouse", "state", "crm_quote_id", "crm_opportunity_id")
    ordering = ("expires_on", "id")


urlpatterns = [path("", PromiseView.as_view(), name="erp-promise")]

reservation_router = SimpleRouter()
reservation_router.register("quote-reservations", QuoteReservationViewSet, basename="erp-quote-reservation")
