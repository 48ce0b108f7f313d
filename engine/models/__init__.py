"""All tables. Import models from here so every table is registered on Base.metadata."""
from .base import Base, UTCDateTime, utcnow
from .org import ROLES, LoginFailure, LoginSession, Unit, UnitNameGram, User
from .process import AuditEvent, ProcessDefinition, ProcessInstance, TaskRow
from .items import (ITEM_STATUSES, ITEM_TYPES, Assignment, CoOpinion, Consultation, Disclosure, Item,
                    ItemCosigner, ItemCounter, LeaderInstruction, Pledge, Rating, RehandlingOrder, Reply, ReturnRequest)

__all__ = [
    "Base", "UTCDateTime", "utcnow", "ROLES", "LoginFailure", "LoginSession", "Unit", "UnitNameGram", "User", "AuditEvent", "ProcessDefinition",
    "ProcessInstance", "TaskRow", "ITEM_STATUSES", "ITEM_TYPES", "Assignment", "CoOpinion", "Consultation",
    "Disclosure", "Item", "ItemCosigner", "ItemCounter", "LeaderInstruction", "Pledge", "Rating", "RehandlingOrder", "Reply", "ReturnRequest",
    "CalendarDay", "CalendarYear",
]
from .calendar import CalendarDay, CalendarYear  # noqa: E402
from .deadlines import (Deadline, DeadlineRule, DeadlineTally, DeadlineUnitTally, ExtensionRequest, Notification, SchedulerHeartbeat,  # noqa: E402
                        Timer)

__all__ += ["Deadline", "DeadlineRule", "DeadlineTally", "DeadlineUnitTally", "ExtensionRequest", "Notification", "SchedulerHeartbeat", "Timer"]
from .incidents import Incident  # noqa: E402

__all__ += ["Incident"]
from .followup import (CHECK_KINDS, URGE_CHANNELS, CarryOver, Promise, PromiseProgress,  # noqa: E402
                       SupervisionCheck, Urge)

__all__ += ["CHECK_KINDS", "URGE_CHANNELS", "CarryOver", "Promise", "PromiseProgress", "SupervisionCheck", "Urge"]
from .items import Attachment, LetterCounter, MergedLetter  # noqa: E402

__all__ += ["Attachment", "LetterCounter", "MergedLetter"]
from .interop import ApiToken, IdempotencyRecord, OutboxEvent, Partner, WebhookDelivery  # noqa: E402

__all__ += ["ApiToken", "IdempotencyRecord", "OutboxEvent", "Partner", "WebhookDelivery"]
