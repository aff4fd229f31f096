"""Errors the CRM services raise when a request conflicts with the state of the data (the API answers 409).

Bad input is a ``django.core.exceptions.ValidationError`` with field names (the API answers 400); these are
the other cases: the input is well-formed, but doing it would duplicate a customer or repeat a one-time step.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class CrmConflict(Exception):
    """A well-formed request that the current state of the records refuses."""

    code = "conflict"
    field: str | None = None

    def __init__(self, message=None, *, field: str | None = None):
        self.message = message or _("The request conflicts with the current state of the record.")
        if field is not None:
            self.field = field
        super().__init__(str(self.message))


class DuplicateCustomerError(CrmConflict):
    """Creating this customer would duplicate existing ones; ``candidates`` are the
    ``crm.selectors.DuplicateCandidate`` found. Repeat with ``force=True`` to create it anyway."""

    code = "duplicate"

    def __init__(self, candidates):
        self.candidates = list(candidates)
        matched = sorted({reason for c in self.candidates for reason in c.matched_on})
        self.field = matched[0] if len(matched) == 1 and matched[0] != "name_city" else None
        super().__init__(
            _(
                "A customer with the same %(facts)s already exists. Merge into it, or confirm (force) to create "
                "a separate record."
            )
            % {"facts": ", ".join(str(MATCH_LABELS.get(m, m)) for m in matched)}
        )


class LeadAlreadyConvertedError(CrmConflict):
    code = "already_converted"


class CustomerMergeError(CrmConflict):
    code = "merge_refused"


class QuoteExpiredError(CrmConflict):
    """The quote is past its validity date: it can no longer be sent or accepted (generate a new version)."""

    code = "quote_expired"


class QuoteApprovalError(CrmConflict):
    """The quote's approval does not allow this step: sending one that needs a manager's yes, approving one
    nobody asked about, approving one's own quote."""

    code = "quote_approval"


class QuoteStateError(CrmConflict):
    """The quote is not in a state that allows this step (e.g. accepting a draft that was never sent)."""

    code = "quote_state"


MATCH_LABELS = {
    "phone": _("phone"),
    "email": _("email"),
    "unionid": _("WeChat unionid"),
    "tax_id": _("unified social credit code"),
    "name_city": _("name and city"),
}
