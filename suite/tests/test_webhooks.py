"""Outgoing webhooks: the API (admins of the company only, secret shown once, nothing mass-assignable), the
fan-out of events to matching subscriptions, signed deliveries with retries, and the whole path through a real
worker to a local HTTP server."""

from __future__ import annotations

import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone, translation
from werkzeug import Response as WerkzeugResponse

from suite import events
from suite.events.relay import relay_batch
from suite.models import Role, WebhookDelivery, WebhookSubscription
from suite.services.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    webhook_delivery_attempt,
    webhook_signature,
    webhook_signature_verify,
    webhook_subscription_create,
)

URL = "/api/v1/suite/webhooks/"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def receiver(settings, httpserver):
    """A local HTTP server the webhooks may call (allowed like an integrator's public endpoint)."""
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    return httpserver


def publish(name: str, payload: dict, company) -> events.registry.Event:
    with transaction.atomic():
        return events.publish(name, payload, company_id=company.id)


# --------------------------------------------------------------------------- the API


def test_an_admin_subscribes_and_sees_the_secret_once(db, company, member, api_client):
    admin = member(company, Role.ADMIN)
    client = api_client(admin)

    response = client.post(
        URL, {"url": "https://hooks.example.com/in", "events": ["crm.*", "erp.invoice.paid"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["crm.*", "erp.invoice.paid"] and body["active"] is True
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.company == company and subscription.secret == body["secret"]
    listed = client.get(URL).json()["results"]
    assert [row["id"] for row in listed] == [subscription.id]
    assert "secret" not in listed[0] and "secret" not in client.get(f"{URL}{subscription.id}/").json()

    rotated = client.post(f"{URL}{subscription.id}/rotate-secret/").json()
    subscription.refresh_from_db()
    assert rotated["secret"] == subscription.secret != body["secret"]


def test_company_and_secret_cannot_be_set_from_the_body(db, company, other_company, member, api_client):
    client = api_client(member(company, Role.ADMIN))
    response = client.post(
        URL,
        {"url": "https://hooks.example.com/in", "events": ["*"], "company": other_company.id, "secret": "chosen"},
        format="json",
    )
    assert response.status_code == 201
    subscription = WebhookSubscription.objects.get(pk=response.json()["id"])
    assert subscription.company_id == company.id and subscription.secret != "chosen"

    patched = client.patch(f"{URL}{subscription.id}/", {"company": other_company.id, "secret": "x", "active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False
    subscription.refresh_from_db()
    assert subscription.company_id == company.id and subscription.secret != "x" and not subscription.active


@pytest.mark.parametrize("role", [Role.SALES, Role.MANAGER, Role.FINANCE])
def test_only_admins_manage_webhooks(db, company, member, api_client, role):
    webhook_subscription_create(company=company, url="https://hooks.example.com/a", events=["*"])
    client = api_client(member(company, role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"url": "https://hooks.example.com/b", "events": ["*"]}, format="json").status_code == 403
    assert client.get("/api/v1/suite/webhook-deliveries/").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/latest/", "events": ["*"]}, "url"),
        ({"url": "http://0x7f.1/", "events": ["*"]}, "url"),
        ({"url": "http://localhost:8000/", "events": ["*"]}, "url"),
        ({"url": "ftp://hooks.example.com/", "events": ["*"]}, "url"),
        ({"url": "https://hooks.example.com/", "events": []}, "events"),
        ({"url": "https://hooks.example.com/", "events": ["CRM won"]}, "events.0"),
        ({"url": "https://hooks.example.com/", "events": "crm.*"}, "events"),
    ],
)
def test_bad_subscriptions_are_400_with_field_errors(db, company, member, api_client, body, field):
    response = api_client(member(company, Role.ADMIN)).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not WebhookSubscription.objects.exists()


# --------------------------------------------------------------------------- fan-out


def test_events_fan_out_to_the_matching_active_subscriptions_of_their_company(db, company, other_company):
    def subscribe(owner, patterns, active=True):
        created = webhook_subscription_create(company=owner, url="https://hooks.example.com/", events=patterns)
        if not active:
            WebhookSubscription.objects.filter(pk=created.subscription.pk).update(active=False)
        return created.subscription

    everything = subscribe(company, ["*"])
    crm_only = subscribe(company, ["crm.*"])
    exact = subscribe(company, ["erp.invoice.paid"])
    inactive = subscribe(company, ["*"], active=False)
    elsewhere = subscribe(other_company, ["*"])

    won = publish("crm.opportunity.won", {"opportunity_id": 7}, company)
    paid = publish("erp.invoice.paid", {"invoice_id": 9}, company)
    with transaction.atomic():
        events.publish("crm.opportunity.won", {}, company_id=None)  # no company: no webhooks
    relay_batch()

    pairs = set(WebhookDelivery.objects.values_list("subscription_id", "event_id"))
    assert pairs == {(everything.id, won.id), (everything.id, paid.id), (crm_only.id, won.id), (exact.id, paid.id)}
    assert not WebhookDelivery.objects.filter(subscription__in=[inactive, elsewhere]).exists()


# --------------------------------------------------------------------------- delivery


def test_a_delivery_is_signed_and_recorded(db, company, receiver):
    created = webhook_subscription_create(company=company, url=receiver.url_for("/hook"), events=["crm.*"])
    event = publish("crm.opportunity.won", {"opportunity_id": 7, "amount": "1200.50"}, company)
    relay_batch()
    delivery = WebhookDelivery.objects.get()
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)

    webhook_delivery_attempt(delivery_id=delivery.id)

    request, _ = receiver.log[0]
    body = request.get_data()
    signature = request.headers[SIGNATURE_HEADER]
    assert webhook_signature_verify(secret=created.secret, body=body, header=signature)
    assert not webhook_signature_verify(secret="whsec_wrong", body=body, header=signature)
    assert not webhook_signature_verify(secret=created.secret, body=body + b" ", header=signature)
    assert request.headers[EVENT_HEADER] == "crm.opportunity.won"
    assert request.headers[DELIVERY_HEADER] == str(delivery.uuid)
    assert request.headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["id"] == str(event.uuid) and document["name"] == "crm.opportunity.won"
    assert document["payload"] == {"opportunity_id": 7, "amount": "1200.50"}
    assert document["company_id"] == company.id and document["correlation_id"] == str(event.correlation_id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 200)
    assert delivery.response_excerpt == "thanks" and delivery.delivered_at is not None

    webhook_delivery_attempt(delivery_id=delivery.id)  # a duplicate task sends nothing
    assert len(receiver.log) == 1


def test_the_signature_format():
    header = webhook_signature(secret="whsec_test", body=b'{"a":1}', timestamp=1700000000)
    assert header == "t=1700000000,v1=" + hmac.new(b"whsec_test", b'1700000000.{"a":1}', "sha256").hexdigest()
    assert webhook_signature_verify(secret="whsec_test", body=b'{"a":1}', header=header, now=1700000100)
    assert not webhook_signature_verify(secret="whsec_test", body=b'{"a":1}', header=header, now=1700001000)


def test_failures_are_retried_with_backoff_then_given_up(db, company, receiver, settings):
    settings.TROIKA_WEBHOOK_MAX_ATTEMPTS = 3
    settings.TROIKA_WEBHOOK_BACKOFF_SECONDS = 10
    webhook_subscription_create(company=company, url=receiver.url_for("/hook"), events=["*"])
    publish("crm.customer.created", {"customer_id": 1}, company)
    relay_batch()
    delivery = WebhookDelivery.objects.get()
    receiver.expect_request("/hook").respond_with_data("down for maintenance", status=503)
    now = timezone.now()

    webhook_delivery_attempt(delivery_id=delivery.id, now=now)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, 503)
    assert delivery.next_retry_at == now + timedelta(seconds=10)
    assert "503" in delivery.error

    webhook_delivery_attempt(delivery_id=delivery.id, now=now + timedelta(seconds=5))  # not due yet
    assert len(receiver.log) == 1

    webhook_delivery_attempt(delivery_id=delivery.id, now=now + timedelta(seconds=10))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.next_retry_at == now + timedelta(seconds=10 + 20)

    webhook_delivery_attempt(delivery_id=delivery.id, now=now + timedelta(seconds=30))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_retry_at) == ("dead", 3, None)
    assert len(receiver.log) == 3


def test_a_url_that_became_private_is_given_up_at_once(db, company, receiver):
    created = webhook_subscription_create(company=company, url="https://hooks.example.com/", events=["*"])
    # e.g. changed in the database, or a DNS name now pointing inside: the delivery re-checks every time
    WebhookSubscription.objects.filter(pk=created.subscription.pk).update(url="http://169.254.169.254/latest/")
    publish("crm.customer.created", {}, company)
    relay_batch()

    delivery = webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().id)

    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert "link-local" in delivery.error


def test_a_redirect_is_followed_only_to_public_addresses(db, company, receiver):
    webhook_subscription_create(company=company, url=receiver.url_for("/hook"), events=["*"])
    receiver.expect_request("/hook").respond_with_response(
        WerkzeugResponse(status=307, headers={"Location": "http://[::ffff:169.254.169.254]/"})
    )
    publish("crm.customer.created", {}, company)
    relay_batch()

    delivery = webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().id)

    assert delivery.status == "dead" and "IPv4-mapped" in delivery.error


def test_the_delivery_log_api(db, company, other_company, member, api_client):
    created = webhook_subscription_create(company=company, url="https://hooks.example.com/", events=["*"])
    webhook_subscription_create(company=other_company, url="https://hooks.example.com/", events=["*"])
    publish("crm.customer.created", {"customer_id": 1}, company)
    publish("crm.customer.created", {"customer_id": 2}, other_company)
    relay_batch()
    client = api_client(member(company, Role.ADMIN))

    rows = client.get("/api/v1/suite/webhook-deliveries/", {"subscription": created.subscription.id}).json()["results"]

    assert len(rows) == 1
    assert rows[0]["event_name"] == "crm.customer.created" and rows[0]["status"] == "pending"
    assert rows[0]["uuid"] == str(WebhookDelivery.objects.get(subscription=created.subscription).uuid)
    other_id = WebhookDelivery.objects.exclude(subscription=created.subscription).get().id
    assert client.get(f"/api/v1/suite/webhook-deliveries/{other_id}/").status_code == 404


# --------------------------------------------------------------------------- end to end, real worker


@pytest.mark.worker
@pytest.mark.slow
def test_an_event_reaches_the_endpoint_through_the_worker(transactional_db, company, receiver, celery_worker_factory):
    created = webhook_subscription_create(company=company, url=receiver.url_for("/hook"), events=["crm.*"])
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    celery_worker_factory().start()

    event = publish("crm.opportunity.won", {"opportunity_id": 42}, company)

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not WebhookDelivery.objects.filter(status="succeeded").exists():
        time.sleep(0.05)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.event_id, delivery.attempts) == ("succeeded", event.id, 1)
    request, _ = receiver.log[0]
    assert webhook_signature_verify(
        secret=created.secret, body=request.get_data(), header=request.headers[SIGNATURE_HEADER]
    )
    assert json.loads(request.get_data())["payload"] == {"opportunity_id": 42}
