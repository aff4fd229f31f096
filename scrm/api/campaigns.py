"""The API of QR campaigns, coupons and UGC (/api/v1/scrm/qr-campaigns/, qr-codes/, qr-scans/, qr-claims/,
coupon-templates/, coupons/, ugc/): thin viewsets over ``scrm.services.campaigns`` / ``coupons`` / ``ugc``."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from scrm import selectors
from scrm.models import (
    Channel,
    Coupon,
    CouponKind,
    CouponStatus,
    CouponTemplate,
    QrCampaign,
    QrCampaignKind,
    QrCampaignStatus,
    QrClaim,
    QrCode,
    QrScan,
    Sentiment,
    SocialIdentity,
    UgcKind,
    UgcPost,
)
from scrm.services import campaigns as campaign_services
from scrm.services import coupons as coupon_services
from scrm.services import ugc as ugc_services
from suite.api.serializers import CompanyUserField, InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

# ---------------------------------------------------------------- serializers


class CouponTemplateSerializer(OutputSerializer):
    class Meta:
        model = CouponTemplate
        fields = [
            "id",
            "name",
            "kind",
            "value",
            "min_spend",
            "valid_days",
            "total_quantity",
            "issued_count",
            "is_active",
            "created_at",
        ]


class CouponTemplateInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=CouponKind.choices, required=False)
    value = serializers.DecimalField(max_digits=18, decimal_places=2)
    min_spend = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, min_value=0)
    valid_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    total_quantity = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)

    class Meta:
        writable_protected = ("total_quantity",)


class CouponTemplateUpdateInput(CouponTemplateInput):
    name = serializers.CharField(max_length=200, required=False)
    value = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)


class CouponSerializer(OutputSerializer):
    template = serializers.PrimaryKeyRelatedField(read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True)

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "template",
            "template_name",
            "identity",
            "crm_contact_id",
            "recipient_phone",
            "reason",
            "status",
            "expires_at",
            "redeemed_at",
            "order_reference",
            "created_at",
        ]


class CouponIssueInput(InputSerializer):
    template = ScopedRelatedField(model=CouponTemplate)
    identity = ScopedRelatedField(model=SocialIdentity, required=False, allow_null=True)
    crm_contact_id = serializers.IntegerField(required=False, allow_null=True)
    recipient_phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class CouponRedeemInput(InputSerializer):
    code = serializers.CharField(max_length=20)
    order_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)


class QrCampaignSerializer(OutputSerializer):
    code_total = serializers.IntegerField(read_only=True)
    scan_total = serializers.IntegerField(read_only=True)
    remaining_budget = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)

    class Meta:
        model = QrCampaign
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "landing_title",
            "landing_text",
            "starts_at",
            "ends_at",
            "prize_amount",
            "budget",
            "spent",
            "remaining_budget",
            "prizes_granted",
            "per_person_limit",
            "per_person_daily_limit",
            "daily_prize_limit",
            "reward_template",
            "oauth_channel",
            "code_total",
            "scan_total",
            "created_at",
        ]


class QrCampaignInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=QrCampaignKind.choices)
    status = serializers.ChoiceField(choices=QrCampaignStatus.choices, required=False)
    landing_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    landing_text = serializers.CharField(required=False, allow_blank=True)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    prize_amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, min_value=0)
    budget = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, min_value=0)
    per_person_limit = serializers.IntegerField(min_value=1, required=False)
    per_person_daily_limit = serializers.IntegerField(min_value=1, required=False)
    daily_prize_limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    reward_template = ScopedRelatedField(model=CouponTemplate, required=False, allow_null=True)
    oauth_channel = ScopedRelatedField(model=Channel, required=False, allow_null=True)

    class Meta:
        writable_protected = ("status", "prize_amount")


class QrCampaignUpdateInput(QrCampaignInput):
    name = serializers.CharField(max_length=200, required=False)
    kind = None


class QrCodesInput(InputSerializer):
    count = serializers.IntegerField(min_value=1, max_value=campaign_services.MAX_CODES_PER_CALL)
    product_sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    lot_code = serializers.CharField(max_length=64, required=False, allow_blank=True)
    channel_label = serializers.CharField(max_length=100, required=False, allow_blank=True)
    staff = CompanyUserField(required=False, allow_null=True)


class QrCodeSerializer(OutputSerializer):
    url = serializers.SerializerMethodField(help_text=_("The signed landing-page path the printed QR code encodes."))

    class Meta:
        model = QrCode
        fields = [
            "id",
            "campaign",
            "serial",
            "url",
            "lot_id",
            "product_sku",
            "lot_code",
            "channel_label",
            "staff",
            "scan_count",
            "claimed_at",
            "created_at",
        ]

    def get_url(self, code) -> str:
        return campaign_services.code_path(code)


class QrScanSerializer(OutputSerializer):
    class Meta:
        model = QrScan
        fields = [
            "id",
            "campaign",
            "code",
            "scanner_key",
            "openid",
            "phone",
            "nickname",
            "province",
            "city",
            "source",
            "identity",
            "scanned_at",
        ]


class QrClaimSerializer(OutputSerializer):
    class Meta:
        model = QrClaim
        fields = [
            "id", "campaign", "code", "scan", "scanner_key", "amount", "coupon", "payout_status", "claimed_at",
            "mch_billno", "payout_reason", "payout_attempts", "payout_sent_at",
        ]  # fmt: skip


class QrScannerSerializer(serializers.Serializer):
    scanner_key = serializers.CharField()
    identity_id = serializers.IntegerField(allow_null=True)
    crm_contact_id = serializers.IntegerField(allow_null=True)
    phone = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    last_scanned_at = serializers.DateTimeField()


class UgcSerializer(OutputSerializer):
    channel_kind = serializers.CharField(source="channel.kind", read_only=True, allow_null=True, default=None)
    reward_coupon_code = serializers.CharField(source="reward_coupon.code", read_only=True, default=None)

    class Meta:
        model = UgcPost
        fields = [
            "id",
            "kind",
            "channel",
            "channel_kind",
            "identity",
            "external_id",
            "url",
            "author_name",
            "text",
            "rating",
            "language",
            "sentiment",
            "sentiment_score",
            "keywords",
            "posted_at",
            "is_featured",
            "featured_at",
            "reward_coupon",
            "reward_coupon_code",
        ]


class UgcInput(InputSerializer):
    kind = serializers.ChoiceField(choices=UgcKind.choices)
    text = serializers.CharField(max_length=20_000)
    channel = ScopedRelatedField(model=Channel, required=False, allow_null=True)
    identity = ScopedRelatedField(model=SocialIdentity, required=False, allow_null=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    author_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    posted_at = serializers.DateTimeField(required=False, allow_null=True)

    class Meta:
        writable_protected = ("posted_at",)


class UgcFeatureInput(InputSerializer):
    featured = serializers.BooleanField(default=True)


class UgcRewardInput(InputSerializer):
    template = ScopedRelatedField(model=CouponTemplate)


# ---------------------------------------------------------------- filters


class CampaignChildFilter(filters.FilterSet):
    campaign = filters.NumberFilter(field_name="campaign_id")


class QrScanFilter(CampaignChildFilter):
    province = filters.CharFilter()
    city = filters.CharFilter()

    class Meta:
        model = QrScan
        fields = ["campaign", "province", "city"]


class QrCodeFilter(CampaignChildFilter):
    class Meta:
        model = QrCode
        fields = ["campaign"]


class QrClaimFilter(CampaignChildFilter):
    class Meta:
        model = QrClaim
        fields = ["campaign"]


class CouponFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CouponStatus.choices)
    template = filters.NumberFilter(field_name="template_id")
    code = filters.CharFilter()

    class Meta:
        model = Coupon
        fields = ["status", "template", "code"]


class UgcFilter(filters.FilterSet):
    sentiment = filters.ChoiceFilter(choices=Sentiment.choices)
    kind = filters.ChoiceFilter(choices=UgcKind.choices)
    is_featured = filters.BooleanFilter()

    class Meta:
        model = UgcPost
        fields = ["sentiment", "kind", "is_featured"]


# ---------------------------------------------------------------- viewsets


def _counted(model):
    return Coalesce(
        Subquery(
            model.objects.filter(campaign=OuterRef("pk"))
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


class QrScannersQuery(serializers.Serializer):
    province = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")


class QrCampaignViewSet(TenantModelViewSet):
    """QR-code campaigns (扫码赢红包 / 渠道活码) with their figures. ``POST …/{id}/codes/`` generates signed codes
    (for an ERP lot or a channel / staff member); ``GET …/{id}/figures/`` the campaign page's figures;
    ``GET …/{id}/scanners/?province=&city=`` the people who scanned (one row each): the segment for follow-up
    pushes. Campaigns end (``status``), they are not deleted."""

    queryset = QrCampaign.objects.annotate(code_total=_counted(QrCode), scan_total=_counted(QrScan))
    output_serializer_class = QrCampaignSerializer
    input_serializer_class = QrCampaignInput
    update_input_serializer_class = QrCampaignUpdateInput
    search_fields = ("name",)
    ordering_fields = ("created_at", "name")
    ordering = ("-created_at",)
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    policy_actions = {"codes": "change", "figures": "view", "scanners": "view"}

    def create_object(self, *, actor, data):
        return campaign_services.qr_campaign_create(company=actor.company, **data)

    def update_object(self, *, actor, instance, data):
        return campaign_services.qr_campaign_update(campaign=instance, **data)

    @extend_schema(request=QrCodesInput, responses={201: QrCodeSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def codes(self, request, pk=None):
        """Generate ``count`` (≤ 10,000) unique signed codes; each one's ``url`` is what its QR code encodes."""
        campaign = self.get_object()
        serializer = QrCodesInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        codes = campaign_services.qr_codes_generate(campaign=campaign, **serializer.validated_data)
        return Response(QrCodeSerializer(codes, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=inline_serializer(
            "QrCampaignFigures",
            {
                "codes": serializers.IntegerField(),
                "codes_scanned": serializers.IntegerField(),
                "scans": serializers.IntegerField(),
                "scanners": serializers.IntegerField(),
                "prizes": serializers.IntegerField(),
                "spent": serializers.DecimalField(max_digits=18, decimal_places=2),
                "budget": serializers.DecimalField(max_digits=18, decimal_places=2),
                "remaining": serializers.DecimalField(max_digits=18, decimal_places=2),
                "by_region": serializers.ListField(child=serializers.DictField()),
                "by_source": serializers.ListField(child=serializers.DictField()),
                "by_day": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        """Codes, scans, people, prizes, budget, and scans by region, source and day."""
        figures = selectors.qr_campaign_figures(self.get_object())
        for key in ("spent", "budget", "remaining"):
            figures[key] = str(figures[key])
        for row in figures["by_day"]:
            row["day"] = row["day"].isoformat()
        return Response(figures)

    @extend_schema(parameters=[QrScannersQuery], responses=QrScannerSerializer(many=True))
    @action(detail=True, methods=["get"])
    def scanners(self, request, pk=None):
        """The campaign's scanners (latest scan per person), by region: who a follow-up push goes to."""
        campaign = self.get_object()
        query = QrScannersQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.qr_scanners(campaign, **query.validated_data)
        return Response(QrScannerSerializer(rows, many=True).data)


class QrCodeViewSet(TenantReadOnlyViewSet):
    """The codes of the campaigns (``?campaign=<id>``), with the signed URL each QR code encodes."""

    queryset = QrCode.objects.all()
    output_serializer_class = QrCodeSerializer
    filterset_class = QrCodeFilter
    ordering_fields = ("id",)
    ordering = ("id",)


class QrScanViewSet(TenantReadOnlyViewSet):
    """Scans with the scanner's identity, region and source (``?campaign=&province=&city=``), newest first."""

    queryset = QrScan.objects.all()
    output_serializer_class = QrScanSerializer
    filterset_class = QrScanFilter
    ordering_fields = ("id",)
    ordering = ("-id",)


class QrClaimViewSet(TenantReadOnlyViewSet):
    """Prizes granted (one per code), with the red-envelope amount to pay out and the coupon issued."""

    queryset = QrClaim.objects.all()
    output_serializer_class = QrClaimSerializer
    filterset_class = QrClaimFilter
    ordering_fields = ("id",)
    ordering = ("-id",)


class CouponTemplateViewSet(TenantModelViewSet):
    """Coupon templates: amount or percent off, minimum spend, validity after issue, total quantity."""

    queryset = CouponTemplate.objects.all()
    output_serializer_class = CouponTemplateSerializer
    input_serializer_class = CouponTemplateInput
    update_input_serializer_class = CouponTemplateUpdateInput
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def create_object(self, *, actor, data):
        return coupon_services.coupon_template_create(company=actor.company, **data)

    def update_object(self, *, actor, instance, data):
        return coupon_services.coupon_template_update(template=instance, **data)


class CouponViewSet(TenantModelViewSet):
    """Coupons: ``POST`` issues one to a customer; ``POST …/redeem/`` redeems a code once (a second
    redemption, an expired or unknown code is a 400 on ``code``)."""

    queryset = Coupon.objects.select_related("template")
    output_serializer_class = CouponSerializer
    input_serializer_class = CouponIssueInput
    filterset_class = CouponFilter
    ordering_fields = ("created_at", "expires_at")
    ordering = ("-created_at",)
    http_method_names = ["get", "post", "head", "options"]
    policy_actions = {"redeem": "redeem"}

    def create_object(self, *, actor, data):
        return coupon_services.coupon_issue(**data)

    @extend_schema(request=CouponRedeemInput, responses=CouponSerializer)
    @action(detail=False, methods=["post"])
    def redeem(self, request):
        """Redeem the coupon with ``code`` (exactly once, also under concurrent requests)."""
        serializer = CouponRedeemInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        coupon = coupon_services.coupon_redeem(company=self.actor.company, by=request.user, **serializer.validated_data)
        return Response(self.output(coupon))


class UgcViewSet(TenantModelViewSet):
    """User-generated content with sentiment and keywords (``?sentiment=&kind=&is_featured=``). ``POST``
    records a post (a review, share or 买家秀 from elsewhere); connectors' comments and mentions arrive by
    themselves. ``…/{id}/feature/`` and ``…/{id}/reward/`` (a coupon to the author, once)."""

    queryset = UgcPost.objects.select_related("channel", "reward_coupon")
    output_serializer_class = UgcSerializer
    input_serializer_class = UgcInput
    filterset_class = UgcFilter
    search_fields = ("text", "author_name")
    ordering_fields = ("posted_at", "sentiment_score")
    ordering = ("-posted_at",)
    http_method_names = ["get", "post", "head", "options"]
    policy_actions = {"feature": "feature", "reward": "reward"}

    def create_object(self, *, actor, data):
        post, _created = ugc_services.ugc_capture(company=actor.company, **data)
        return post

    @extend_schema(request=UgcFeatureInput, responses=UgcSerializer)
    @action(detail=True, methods=["post"])
    def feature(self, request, pk=None):
        """Show the post on the UGC wall (``featured: false`` takes it off). Negative posts are refused."""
        post = self.get_object()
        serializer = UgcFeatureInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        post = ugc_services.ugc_feature(post=post, featured=serializer.validated_data["featured"])
        return Response(self.output(post))

    @extend_schema(request=UgcRewardInput, responses=UgcSerializer)
    @action(detail=True, methods=["post"])
    def reward(self, request, pk=None):
        """Send the author a coupon of ``template`` (once per post; not for negative or anonymous posts)."""
        post = self.get_object()
        serializer = UgcRewardInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        post = ugc_services.ugc_reward(post=post, template=serializer.validated_data["template"])
        return Response(self.output(post))
