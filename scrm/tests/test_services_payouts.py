"""Red-envelope payout through WeChat Pay's v2 "send red packet" (issue #4, QR campaigns), against a local fake
that follows the documented shapes: XML body, MD5 sign verified by the fake, return_code / result_code / err_code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from werkzeug import Response

from scrm.channels.wechat_pay import SEND_PATH, sign, to_fen
from scrm.models import QrCampaign, QrClaim
from scrm.services.campaigns import qr_prize_claim
from scrm.services.payouts import qr_payout_send
from scrm.tests.factories import make_channel
from scrm.tests.factories_campaigns import make_campaign, make_code, make_scan

pytestmark = pytest.mark.django_db

MCH_ID = "1900000109"
API_KEY = "192006250b4c09247ec02edce69f6a2d"
APP_ID = "wx8888888888888888"
REQUIRED = {
    "mch_billno", "mch_id", "wxappid", "send_name", "re_openid", "total_amount", "total_num", "wishing",
    "client_ip", "act_name", "remark", "nonce_str", "sign",
}  # fmt: skip


def xml(**fields) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


@pytest.fixture
def wxpay(settings, httpserver):
    """A fake WeChat Pay: checks the fields and the sign with the merchant key, pays a bill number once, and
    answers from ``script`` (a list of err_code, "" for success) in order."""
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    httpserver.requests_seen, httpserver.paid, httpserver.script = [], {}, []

    def handler(request):
        params = {child.tag: child.text or "" for child in ET.fromstring(request.data)}  # noqa: S314  our fake
        httpserver.requests_seen.append(params)
        if REQUIRED - set(params) or params["mch_id"] != MCH_ID or params["wxappid"] != APP_ID:
            return Response(xml(return_code="FAIL", return_msg="参数错误"), content_type="text/xml")
        if sign(params, API_KEY) != params["sign"]:
            return Response(xml(return_code="FAIL", return_msg="签名错误"), content_type="text/xml")
        code = httpserver.script.pop(0) if httpserver.script else ""
        if code:
            return Response(
                xml(return_code="SUCCESS", result_code="FAIL", err_code=code, err_code_des=f"{code} desc",
                    mch_billno=params["mch_billno"]),
                content_type="text/xml",
            )  # fmt: skip
        listid = httpserver.paid.setdefault(params["mch_billno"], f"1000041701{len(httpserver.paid):08d}")
        return Response(
            xml(return_code="SUCCESS", result_code="SUCCESS", mch_billno=params["mch_billno"], send_listid=listid,
                total_amount=params["total_amount"], re_openid=params["re_openid"]),
            content_type="text/xml",
        )  # fmt: skip

    httpserver.expect_request(SEND_PATH, method="POST").respond_with_handler(handler)
    return httpserver


def granted(company, wxpay, *, api_key=API_KEY, amount=Decimal("1.88")):
    channel = make_channel(
        company,
        "wechat_oa",
        credentials={"app_secret": "s", "pay_mch_id": MCH_ID, "pay_api_key": api_key},
        config={"app_id": APP_ID, "pay_api_base": wxpay.url_for("").rstrip("/"), "pay_send_name": "好物品牌"},
    )
    campaign = make_campaign(company, oauth_channel=channel, prize_amount=amount, budget=Decimal("100.00"))
    scan = make_scan(company, code=make_code(company, campaign=campaign), openid="oScanner1")
    claim = qr_prize_claim(scan=scan).claim
    assert claim.payout_status == QrClaim.Payout.PENDING
    return claim


def test_documented_sign_example_and_exact_fen():
    params = {"appid": "wxd930ea5d5a258f4f", "body": "test", "device_info": "1000", "mch_id": "10000100",
              "nonce_str": "ibuaiVcKdpRxkhJA", "sign": "", "empty": ""}  # fmt: skip
    assert sign(params, API_KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert to_fen(Decimal("1.88")) == 188 and to_fen(Decimal("200.10")) == 20010
    with pytest.raises(ValueError):
        to_fen(Decimal("0.005"))


def test_payout_success_records_sent_and_sends_the_documented_fields(company, wxpay):
    claim = granted(company, wxpay)

    claim = qr_payout_send(claim_id=claim.pk)

    assert claim.payout_status == QrClaim.Payout.SENT and claim.payout_attempts == 1
    (request,) = wxpay.requests_seen
    assert request["total_amount"] == "188" and request["total_num"] == "1" and request["re_openid"] == "oScanner1"
    assert request["mch_billno"] == claim.mch_billno and len(claim.mch_billno) == 28
    assert claim.mch_billno.startswith(MCH_ID) and claim.payout_listid == wxpay.paid[claim.mch_billno]
    # Done is done: a second task for the same prize sends nothing.
    qr_payout_send(claim_id=claim.pk)
    assert len(wxpay.requests_seen) == 1


def test_systemerror_is_retried_with_the_same_bill_number_and_budget_unchanged(company, wxpay):
    claim = granted(company, wxpay)
    spent = QrCampaign.objects.get(pk=claim.campaign_id).spent
    wxpay.script = ["SYSTEMERROR"]

    first = qr_payout_send(claim_id=claim.pk)
    assert first.payout_status == QrClaim.Payout.RETRYING and "SYSTEMERROR" in first.payout_reason
    second = qr_payout_send(claim_id=claim.pk)

    assert second.payout_status == QrClaim.Payout.SENT and second.payout_attempts == 2
    billnos = [r["mch_billno"] for r in wxpay.requests_seen]
    assert billnos == [second.mch_billno, second.mch_billno]
    assert wxpay.requests_seen[0]["nonce_str"] != wxpay.requests_seen[1]["nonce_str"]
    assert list(wxpay.paid) == [second.mch_billno]
    assert QrCampaign.objects.get(pk=claim.campaign_id).spent == spent == Decimal("1.88")


def test_business_error_is_recorded_as_failed_with_the_reason(company, wxpay):
    claim = granted(company, wxpay)
    wxpay.script = ["NOTENOUGH"]

    claim = qr_payout_send(claim_id=claim.pk)

    assert claim.payout_status == QrClaim.Payout.FAILED and claim.payout_reason.startswith("NOTENOUGH")
    qr_payout_send(claim_id=claim.pk)  # failed is final: not sent again
    assert len(wxpay.requests_seen) == 1 and wxpay.paid == {}


def test_wrong_api_key_signs_badly_and_the_fake_refuses_it(company, wxpay):
    claim = granted(company, wxpay, api_key="0" * 32)

    claim = qr_payout_send(claim_id=claim.pk)

    assert claim.payout_status == QrClaim.Payout.FAILED and claim.payout_reason == "签名错误"
    assert wxpay.paid == {}


def test_payout_is_queued_after_the_grant_commits_and_credentials_are_encrypted(
    company, wxpay, django_capture_on_commit_callbacks
):
    channel = make_channel(
        company, "wechat_oa", credentials={"pay_mch_id": MCH_ID, "pay_api_key": API_KEY},
        config={"app_id": APP_ID, "pay_api_base": wxpay.url_for("").rstrip("/")},
    )  # fmt: skip
    assert API_KEY not in channel.credentials_encrypted and MCH_ID not in channel.credentials_encrypted
    campaign = make_campaign(company, oauth_channel=channel)
    scan = make_scan(company, code=make_code(company, campaign=campaign), openid="oQueued")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        qr_prize_claim(scan=scan)
    assert any(getattr(cb, "__qualname__", "").startswith("qr_payout_queue") for cb in callbacks)
    assert wxpay.requests_seen == []  # nothing is sent inside the grant's transaction


def test_campaign_page_shows_the_payout_state(company, member, wxpay, django_assert_max_num_queries):
    from django.test import Client

    from suite.models import Role

    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])
    client = Client()
    client.force_login(member(company, Role.MARKETING).user)
    claim = granted(company, wxpay)
    wxpay.script = ["NOTENOUGH"]
    qr_payout_send(claim_id=claim.pk)
    client.get(f"/scrm/qr-campaigns/{claim.campaign_id}/")
    with django_assert_max_num_queries(20):
        html = client.get(f"/scrm/qr-campaigns/{claim.campaign_id}/").content.decode()
    assert "payout-failed" in html and "NOTENOUGH" in html


def test_a_payout_whose_task_was_lost_is_queued_again_by_the_sweep_and_paid_once(
    company, wxpay, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from scrm.services.payouts import SWEEP_GRACE, qr_payouts_sweep

    with django_capture_on_commit_callbacks(execute=False):  # the queued task is lost (worker killed)
        claim = granted(company, wxpay)
    claim.refresh_from_db()
    assert claim.payout_due_at is not None
    assert qr_payouts_sweep() == []  # not overdue yet: the task may still run
    later = timezone.now() + SWEEP_GRACE + timedelta(seconds=1)

    assert qr_payouts_sweep(now=later) == [claim.pk]
    assert qr_payouts_sweep(now=later) == []  # marked due now: not queued again on the next beat
    qr_payout_send(claim_id=claim.pk)
    qr_payout_send(claim_id=claim.pk)  # the original task turning up late sends nothing more

    claim.refresh_from_db()
    assert claim.payout_status == QrClaim.Payout.SENT and claim.payout_due_at is None
    assert len(wxpay.requests_seen) == 1 and list(wxpay.paid) == [claim.mch_billno]
    assert qr_payouts_sweep(now=later + SWEEP_GRACE * 10) == []  # sent is final


def test_a_retry_is_due_after_its_delay_and_swept_only_when_overdue(company, wxpay):
    from datetime import timedelta

    from django.utils import timezone

    from scrm.services.payouts import RETRY_DELAYS, SWEEP_GRACE, qr_payouts_sweep

    claim = granted(company, wxpay)
    wxpay.script = ["SYSTEMERROR"]
    before = timezone.now()
    claim = qr_payout_send(claim_id=claim.pk)

    assert claim.payout_status == QrClaim.Payout.RETRYING
    assert claim.payout_due_at >= before + timedelta(seconds=RETRY_DELAYS[0])
    assert qr_payouts_sweep(now=claim.payout_due_at + SWEEP_GRACE - timedelta(seconds=1)) == []
    assert qr_payouts_sweep(now=claim.payout_due_at + SWEEP_GRACE + timedelta(seconds=1)) == [claim.pk]
