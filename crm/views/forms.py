"""Forms of the CRM pages. They check shape only (types, lengths, choices, references the actor may see); the
services normalise and check the rest (phones, duplicates, business rules), and their ``ValidationError`` is
put back onto the form next to the fields it names (``apply_errors``)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.forms.models import ModelChoiceIterator
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from crm.models import (
    Account,
    ActivityKind,
    CompanySize,
    Contact,
    ContactRole,
    Gender,
    Industry,
    LifecycleStage,
    OpportunityContactRole,
    Pipeline,
    Source,
    Tag,
    TicketPriority,
)
from crm.templatetags.crm_ui import local_name
from crm.views.custom_fields import error_field
from suite.templatetags.troika import person_name
from suite.ui.choices import chosen_id

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def blank(choices) -> list[tuple[str, str]]:
    return [("", "—"), *choices]


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ``ValidationError`` on ``form``: each message next to the field it names, the rest at
    the top of the form."""
    if hasattr(error, "error_dict"):
        for key, messages in error.message_dict.items():
            field = error_field(key)  # custom.level → the form's custom__level
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class LimitedChoiceIterator(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        shown = list(self.queryset.order_by("-updated_at", "-pk")[: self.field.limit])
        current = self.field.current_pk
        if current and all(obj.pk != current for obj in shown):
            obj = self.queryset.filter(pk=current).first()
            if obj is not None:
                shown.insert(0, obj)
        for obj in shown:
            yield self.choice(obj)

    def __len__(self):
        return min(self.queryset.count(), self.field.limit + 1) + (1 if self.field.empty_label is not None else 0)


class LimitedChoiceField(forms.ModelChoiceField):
    """A reference to a record the actor may see (``queryset``, the scoped set it is validated against),
    offered as a ``<select>`` of the ``limit`` most recently changed records (plus the current value): a
    company's 100,000 accounts are never rendered into one page."""

    iterator = LimitedChoiceIterator

    def __init__(self, queryset, *, limit: int = 200, **kwargs):
        self.limit = limit
        self.current_pk = None
        super().__init__(queryset, **kwargs)


class CrmForm(forms.Form):
    """A form whose ``LimitedChoiceField``s know the current value (to keep it among the options)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, LimitedChoiceField):
                value = self.data.get(name) if self.is_bound else self.initial.get(name)
                field.current_pk = getattr(value, "pk", value) or None
                if isinstance(field.current_pk, str):
                    field.current_pk = chosen_id(field.current_pk)


class CustomerFormBase(CrmForm):
    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("Chinese or primary name"))
    name_en = forms.CharField(label=_("Latin name"), max_length=200, required=False)
    phone = forms.CharField(
        label=_("Phone"), max_length=40, required=False, help_text=_("Mobile or landline; +86 is assumed")
    )
    email = forms.EmailField(label=_("Email"), required=False)
    wechat_id = forms.CharField(label=_("WeChat ID"), max_length=64, required=False)
    province = forms.CharField(label=_("Province"), max_length=50, required=False)
    city = forms.CharField(label=_("City"), max_length=50, required=False)
    district = forms.CharField(label=_("District"), max_length=50, required=False)
    address = forms.CharField(label=_("Address"), max_length=255, required=False)
    source = forms.ChoiceField(label=_("Source"), choices=blank(Source.choices), required=False)
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, initial=LifecycleStage.LEAD
    )
    owner = forms.ModelChoiceField(
        get_user_model().objects.none(), label=_("Owner"), required=False, help_text=_("Empty: you")
    )
    tags = forms.ModelMultipleChoiceField(Tag.objects.none(), label=_("Tags"), required=False)
    force = forms.BooleanField(
        label=_("Create it anyway (it is not a duplicate)"), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args, owners=None, tags=None, **kwargs):
        super().__init__(*args, **kwargs)
        if owners is not None:
            self.fields["owner"].queryset = owners
            self.fields["owner"].label_from_instance = person_name
        if tags is not None:
            self.fields["tags"].queryset = tags


class AccountForm(CustomerFormBase):
    parent = LimitedChoiceField(
        Account.objects.none(),
        label=_("Parent account"),
        required=False,
        help_text=_("The group or head office this company belongs to (上级客户)."),
    )
    industry = forms.ChoiceField(label=_("Industry"), choices=blank(Industry.choices), required=False)
    size = forms.ChoiceField(label=_("Size"), choices=blank(CompanySize.choices), required=False)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    tax_id = forms.CharField(label=_("Unified social credit code"), max_length=20, required=False)
    credit_limit = forms.DecimalField(
        label=_("Credit limit"), max_digits=18, decimal_places=2, min_value=0, required=False
    )

    field_order = [
        "name",
        "name_en",
        "industry",
        "size",
        "phone",
        "email",
        "wechat_id",
        "website",
        "province",
        "city",
        "district",
        "address",
        "source",
        "lifecycle_stage",
        "tax_id",
        "credit_limit",
        "parent",
        "owner",
        "tags",
    ]

    def __init__(self, *args, parents=None, **kwargs):
        super().__init__(*args, **kwargs)
        if parents is not None:
            self.fields["parent"].queryset = parents


class ContactForm(CustomerFormBase):
    account = LimitedChoiceField(Account.objects.none(), label=_("Account"), required=False)
    title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    department = forms.CharField(label=_("Department"), max_length=100, required=False)
    gender = forms.ChoiceField(label=_("Gender"), choices=blank(Gender.choices), required=False)

    field_order = [
        "name",
        "name_en",
        "account",
        "title",
        "department",
        "gender",
        "phone",
        "email",
        "wechat_id",
        "province",
        "city",
        "district",
        "address",
        "source",
        "lifecycle_stage",
        "owner",
        "tags",
    ]

    def __init__(self, *args, accounts=None, **kwargs):
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"].queryset = accounts


class LeadForm(CrmForm):
    name = forms.CharField(label=_("Contact name"), max_length=200, required=False)
    name_en = forms.CharField(label=_("Latin name"), max_length=200, required=False)
    company_name = forms.CharField(label=_("Company name"), max_length=200, required=False)
    title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    wechat_id = forms.CharField(label=_("WeChat ID"), max_length=64, required=False)
    province = forms.CharField(label=_("Province"), max_length=50, required=False)
    city = forms.CharField(label=_("City"), max_length=50, required=False)
    industry = forms.ChoiceField(label=_("Industry"), choices=blank(Industry.choices), required=False)
    source = forms.ChoiceField(label=_("Source"), choices=blank(Source.choices), required=False)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean(self):
        data = super().clean()
        if not data.get("name") and not data.get("company_name"):
            self.add_error("name", _("Give the contact's name or the company's name."))
        return data


class OpportunityForm(CrmForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    account = LimitedChoiceField(Account.objects.none(), label=_("Account"), required=False)
    contact = LimitedChoiceField(Contact.objects.none(), label=_("Contact"), required=False)
    amount = forms.DecimalField(label=_("Amount"), max_digits=18, decimal_places=2, required=False, initial=0)
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, widget=DATE_INPUT)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    owner = forms.ModelChoiceField(
        get_user_model().objects.none(), label=_("Owner"), required=False, help_text=_("Empty: you")
    )
    pipeline = forms.ModelChoiceField(
        Pipeline.objects.none(), label=_("Pipeline"), required=False, help_text=_("Empty: the default pipeline")
    )

    def __init__(self, *args, accounts=None, contacts=None, owners=None, pipelines=None, **kwargs):
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"].queryset = accounts
        if contacts is not None:
            self.fields["contact"].queryset = contacts
        if owners is not None:
            self.fields["owner"].queryset = owners
            self.fields["owner"].label_from_instance = person_name
        if pipelines is None:
            del self.fields["pipeline"]  # a deal changes pipeline through its stages, not this form
        else:
            self.fields["pipeline"].queryset = pipelines
            self.fields["pipeline"].label_from_instance = local_name

    def clean(self):
        data = super().clean()
        if not data.get("account") and not data.get("contact"):
            self.add_error("account", _("An opportunity needs an account or a contact."))
        if data.get("amount") is None:
            data["amount"] = 0
        return data


class ActivityForm(CrmForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices, initial=ActivityKind.TASK)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Details"),
        widget=forms.Textarea(
            attrs={"rows": 3, "data-mentions-url": reverse_lazy("mention-suggest"), "aria-autocomplete": "list"}
        ),
        required=False,
        help_text=_("Type @ and a colleague's name or username to tell them."),
    )
    due_at = forms.DateTimeField(
        label=_("Due at"), required=False, widget=DATETIME_INPUT, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    )
    remind_at = forms.DateTimeField(
        label=_("Remind me at"),
        required=False,
        widget=DATETIME_INPUT,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    done = forms.BooleanField(label=_("Already done"), required=False)
    outcome = forms.CharField(label=_("Outcome"), max_length=255, required=False)


class LoseForm(forms.Form):
    lost_reason = forms.ModelChoiceField(queryset=None, label=_("Why was it lost?"))
    note = forms.CharField(label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, reasons, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lost_reason"].queryset = reasons


class ContactRoleForm(CrmForm):
    """A person of the customer in a deal's buying committee (决策链)."""

    contact = LimitedChoiceField(queryset=Contact.objects.none(), label=_("Person"))
    role = forms.ChoiceField(label=_("Role"), choices=ContactRole.choices)
    stance = forms.ChoiceField(
        label=_("Stance"), choices=OpportunityContactRole.Stance.choices, initial=OpportunityContactRole.Stance.NEUTRAL
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, contacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contacts


class TicketForm(CrmForm):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    account = LimitedChoiceField(Account.objects.none(), label=_("Account"), required=False)
    contact = LimitedChoiceField(Contact.objects.none(), label=_("Contact"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=())
    category = forms.ModelChoiceField(queryset=None, label=_("Category"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), choices=TicketPriority.choices, initial=TicketPriority.NORMAL)
    requester_email = forms.EmailField(label=_("Requester e-mail"), required=False)

    def __init__(self, *args, accounts, contacts, categories, channels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["contact"].queryset = contacts
        self.fields["category"].queryset = categories
        self.fields["channel"].choices = channels


class MessageForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=50_000)


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label=_("How was it solved? (internal note)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=50_000,
    )


class EscalateForm(forms.Form):
    reason = forms.CharField(label=_("Why escalate?"), max_length=255)
    priority = forms.ChoiceField(label=_("Raise priority to"), choices=blank(TicketPriority.choices), required=False)
    team = forms.ModelChoiceField(queryset=None, label=_("Hand over to team"), required=False)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams


class AssignForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=None, label=_("Agent"))

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents
        self.fields["agent"].label_from_instance = person_name


class CsatForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How satisfied are you?"),
        choices=[(5, "5"), (4, "4"), (3, "3"), (2, "2"), (1, "1")],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Anything you want to tell us? (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
