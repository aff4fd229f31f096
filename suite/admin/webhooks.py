"""Admin for outgoing webhooks: subscriptions (the secret is never shown here) and the delivery log."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from suite import net
from suite.events.registry import EVENT_PATTERN
from suite.models import WebhookDelivery, WebhookSubscription
from suite.services.webhooks import webhook_subscription_delete, webhook_subscription_update


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookSubscription
        fields = ["url", "event_names", "description", "active"]

    def clean_url(self):
        try:
            return net.validate_url(self.cleaned_data["url"])
        except net.UnsafeURL as exc:
            raise ValidationError(str(exc)) from None

    def clean_event_names(self):
        names = self.cleaned_data["event_names"]
        bad = [name for name in names if not EVENT_PATTERN.match(name)]
        if bad:
            raise ValidationError(", ".join(bad))
        return names


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "company", "active", "created_at"]
    list_filter = ["active", "company"]
    search_fields = ["url", "description"]
    fields = ["company", "url", "event_names", "description", "active", "created_by", "created_at", "updated_at"]
    readonly_fields = ["company", "created_by", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False  # created through the API (the secret is shown to the integrator once)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        webhook_subscription_update(
            subscription=obj,
            by=request.user,
            url=data["url"],
            events=list(data["event_names"]),
            description=data["description"],
            active=data["active"],
        )

    def delete_model(self, request, obj):
        webhook_subscription_delete(subscription=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for subscription in queryset:
            webhook_subscription_delete(subscription=subscription, by=request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["uuid", "subscription", "event", "status", "attempts", "response_status", "delivered_at"]
    list_filter = ["status"]
    search_fields = ["=uuid"]
    list_select_related = ["subscription", "event"]
    readonly_fields = [
        "uuid",
        "subscription",
        "event",
        "status",
        "attempts",
        "response_status",
        "response_excerpt",
        "duration_ms",
        "error",
        "next_retry_at",
        "delivered_at",
        "created_at",
    ]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
