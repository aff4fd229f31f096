"""Factories for CRM records. They go through the services (``force=True`` skips the duplicate check), so
records built in tests are normalised and searchable exactly like real ones."""

from __future__ import annotations

import factory

from crm.models import Account, Contact, Tag, TagGroup
from crm.services import customers as customer_services
from crm.services import tags as tag_services
from suite.testing import CompanyFactory


class ServiceFactory(factory.Factory):
    """A factory whose ``create`` calls a service function (``service``) with the declared fields."""

    class Meta:
        abstract = True

    @classmethod
    def _build(cls, model_class, *args, **kwargs):  # pragma: no cover - records are only built through services
        raise NotImplementedError("CRM factories create through services; use create()")


class AccountFactory(ServiceFactory):
    class Meta:
        model = Account

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"测试客户{n}有限公司")
    name_en = factory.Sequence(lambda n: f"Test Customer {n} Ltd")
    city = "上海"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("force", True)
        return customer_services.account_create(**kwargs)


class ContactFactory(ServiceFactory):
    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"联系人{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("force", True)
        return customer_services.contact_create(**kwargs)


class TagGroupFactory(ServiceFactory):
    class Meta:
        model = TagGroup

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"标签组{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return tag_services.tag_group_create(**kwargs)


class TagFactory(ServiceFactory):
    class Meta:
        model = Tag

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"标签{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return tag_services.tag_create(**kwargs)
