"""CRM models, one module per aggregate."""

from .activities import Activity, ActivityKind
from .customers import (
    Account,
    AccountTag,
    CompanySize,
    Contact,
    ContactTag,
    CustomFieldSet,
    CustomFieldTarget,
    Gender,
    Industry,
    LifecycleStage,
    Source,
    Tag,
    TagGroup,
)
from .leads import AssignmentRule, Lead, LeadScoringRule, LeadStatus
from .opportunities import LostReason, Opportunity, OpportunityStageChange, OpportunityStatus, Pipeline, Stage

__all__ = [
    "Account",
    "AccountTag",
    "Activity",
    "ActivityKind",
    "AssignmentRule",
    "CompanySize",
    "Contact",
    "ContactTag",
    "CustomFieldSet",
    "CustomFieldTarget",
    "Gender",
    "Industry",
    "Lead",
    "LeadScoringRule",
    "LeadStatus",
    "LifecycleStage",
    "LostReason",
    "Opportunity",
    "OpportunityStageChange",
    "OpportunityStatus",
    "Pipeline",
    "Source",
    "Stage",
    "Tag",
    "TagGroup",
]
