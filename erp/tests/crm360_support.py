"""ERP documents of a CRM account for CRM's customer 360 tests (CRM's tests may not import ERP's models or
services — import-linter — so they build ERP data through this helper): confirmed orders, delivered, invoiced
(posted) and every other one paid."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from erp.models import Journal
from erp.services import invoicing, partners, sales
from erp.tests.sales_support import make_shop

_shops: dict = {}


def customer_documents(company, *, crm_account_id: int, name: str, orders: int) -> None:
    """``orders`` orders of one unit at 100.00 + 13 % VAT for a new ERP customer mirroring ``crm_account_id``,
    each delivered and invoiced; invoices 1, 3, 5 … paid in full today."""
    shop = _shops.get(company.pk)
    if shop is None or shop.company.pk != company.pk:
        shop = _shops[company.pk] = make_shop(company)
    partner = partners.partner_create(company=company, name=name, is_customer=True, crm_account_id=crm_account_id)
    product = shop.product(stock=Decimal("100"))
    bank = Journal.objects.get(company=company, code="BNK")
    for i in range(orders):
        order = shop.confirmed((product, 1), partner=partner)
        delivery = order.deliveries.get()
        sales.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": 1}])
        sales.delivery_ship(delivery=delivery)
        invoice = invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order))
        if i % 2 == 0:
            invoicing.payment_create(
                company=company,
                payment_type="inbound",
                partner=partner,
                amount=invoice.amount_total,
                journal=bank,
                date=date.today(),
                allocations=[{"invoice": invoice}],
            )
