"""Tenant factories of the platform's models served by the API (see ``suite.testing.tenant_factory``).

Company, Team, Membership and ApiToken are registered in ``suite.testing`` itself; models added later by
other platform areas register here."""

from django.db import transaction

from suite import events
from suite.models import Notification, Role, WebhookDelivery, WebhookSubscription
from suite.services.notifications import notification_send
from suite.services.webhooks import webhook_subscription_create
from suite.testing import make_member, tenant_factory


@tenant_factory(Notification)
def notification_in(company) -> Notification:
    recipient = make_member(company, Role.SALES).user
    return notification_send(recipients=[recipient], company=company, title="测试通知 isolation")[0]


@tenant_factory(WebhookSubscription)
def webhook_subscription_in(company) -> WebhookSubscription:
    created = webhook_subscription_create(company=company, url="https://hooks.example.com/troika", events=["*"])
    return created.subscription


@tenant_factory(WebhookDelivery)
def webhook_delivery_in(company) -> WebhookDelivery:
    subscription = webhook_subscription_in(company)
    with transaction.atomic():
        event = events.publish("tests.thing.happened", {}, company_id=company.id)
    return WebhookDelivery.objects.create(subscription=subscription, event=event)
