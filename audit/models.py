"""The append-only, hash-chained event log that every status change writes.

Each event stores a SHA-256 hash of its own content and of the previous
event's hash, so editing or deleting any past event breaks every hash after it
(``manage.py audit_verify`` finds the first break). On PostgreSQL a trigger
also refuses UPDATE and DELETE on the table outright.
"""

import hashlib
import json

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    MEMBER_JOINED = "member.joined", "Joined"
    MEMBER_STATUS_CHANGED = "member.status_changed", "Status changed"
    MEMBER_GRADE_CHANGED = "member.grade_changed", "Grade changed"
    MEMBER_PERIOD_STARTED = "member.period_started", "Membership period started"
    MEMBER_PROFILE_UPDATED = "member.profile_updated", "Profile updated"
    INVOICE_RAISED = "invoice.raised", "Invoice raised"
    INVOICE_PAID = "invoice.paid", "Invoice paid"
    INVOICE_CANCELLED = "invoice.cancelled", "Invoice cancelled"
    MEMBER_PAYMENT_METHOD_CHANGED = "member.payment_method_changed", "Payment method changed"
    PAYMENT_REFUNDED = "payment.refunded", "Payment refunded"
    CPD_ENTRY_CREATED = "cpd.entry_created", "CPD entry logged"
    CPD_ENTRY_UPDATED = "cpd.entry_updated", "CPD entry changed"
    CPD_ENTRY_DELETED = "cpd.entry_deleted", "CPD entry deleted"
    FRAMEWORK_DRAFTED = "framework.drafted", "Framework draft created"
    FRAMEWORK_PUBLISHED = "framework.published", "Framework published"
    CPD_SHARE_LINK_CREATED = "cpd.share_link_created", "CPD share link created"
    CPD_SHARE_LINK_REVOKED = "cpd.share_link_revoked", "CPD share link revoked"
    CPD_GOAL_CREATED = "cpd.goal_created", "Development goal added"
    CPD_GOAL_UPDATED = "cpd.goal_updated", "Development goal changed"
    CPD_IMPORTED = "cpd.imported", "CPD entries imported"
    CPD_RETURN_SUBMITTED = "cpd.return_submitted", "CPD return submitted"
    CPD_AUDIT_SAMPLED = "cpd.audit_sampled", "CPD audit sample drawn"
    CPD_AUDIT_SELECTED = "cpd.audit_selected", "Selected for CPD audit"
    CPD_AUDIT_DEFERRAL_REQUESTED = "cpd.audit_deferral_requested", "CPD audit deferral asked for"
    CPD_AUDIT_DEFERRED = "cpd.audit_deferred", "CPD audit deferred"
    CPD_AUDIT_SUBMITTED = "cpd.audit_submitted", "CPD audit record sent for review"
    CPD_AUDIT_OUTCOME = "cpd.audit_outcome", "CPD audit outcome recorded"
    ACCREDITATION_STARTED = "accreditation.started", "Accreditation application started"
    ACCREDITATION_SUBMITTED = "accreditation.submitted", "Accreditation application submitted"
    ACCREDITATION_WITHDRAWN = "accreditation.withdrawn", "Accreditation application withdrawn"
    ACCREDITATION_REFEREE_INVITED = "accreditation.referee_invited", "Referee invited"
    ACCREDITATION_REFEREE_RESPONDED = "accreditation.referee_responded", "Referee responded"
    ACCREDITATION_ASSIGNED = "accreditation.assigned", "Assessor assigned"
    ACCREDITATION_ASSIGNMENT_ACCEPTED = "accreditation.assignment_accepted", "Assignment accepted"
    ACCREDITATION_CONFLICT_DECLARED = "accreditation.conflict_declared", "Conflict declared"
    ACCREDITATION_INFO_REQUESTED = "accreditation.info_requested", "More information requested"
    ACCREDITATION_INFO_RESPONDED = "accreditation.info_responded", "More information given"
    ACCREDITATION_ASSESSED = "accreditation.assessed", "Assessment submitted"
    ACCREDITATION_MODERATION = "accreditation.moderation", "Sent for moderation"
    ACCREDITATION_RECOMMENDED = "accreditation.recommended", "Recommendation made"
    ACCREDITATION_DECIDED = "accreditation.decided", "Accreditation decided"
    ACCREDITATION_APPEAL_LODGED = "accreditation.appeal_lodged", "Appeal lodged"
    ACCREDITATION_APPEAL_DECIDED = "accreditation.appeal_decided", "Appeal decided"
    ACCREDITATION_FEE_PAID = "accreditation.fee_paid", "Accreditation fee paid"
    ACCREDITATION_REFEREE_REMINDED = "accreditation.referee_reminded", "Referee reminded"
    ACCREDITATION_REFEREE_REPLACED = "accreditation.referee_replaced", "Referee replaced"
    CERTIFICATE_ISSUED = "certificate.issued", "Certificate issued"
    CERTIFICATE_SUSPENDED = "certificate.suspended", "Certificate suspended"
    CERTIFICATE_REINSTATED = "certificate.reinstated", "Certificate reinstated"
    CERTIFICATE_REVOKED = "certificate.revoked", "Certificate revoked"
    CERTIFICATE_EXPIRED = "certificate.expired", "Certificate expired"
    CERTIFICATE_RENEWED = "certificate.renewed", "Certificate renewed"
    EMPLOYER_CREATED = "employer.created", "Employer client created"
    EMPLOYER_USER_ADDED = "employer.user_added", "Employer user added"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    WATCHLIST_ADDED = "watchlist.added", "Added to a watch list"
    WATCHLIST_REMOVED = "watchlist.removed", "Removed from a watch list"
    WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created", "Webhook endpoint registered"
    WEBHOOK_ENDPOINT_UPDATED = "webhook_endpoint.updated", "Webhook endpoint changed"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled", "Webhook endpoint disabled"
    WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint.deleted", "Webhook endpoint deleted"


GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for the system (payments, scheduled jobs).",
    )
    # A snapshot, so the history reads the same whatever later happens to the account.
    actor_label = models.CharField(max_length=254)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=100)
    action = models.CharField(max_length=64, choices=Action)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    previous_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["subject_type", "subject_id", "sequence"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.subject_type}:{self.subject_id}"

    def content(self) -> dict:
        """What the hash covers: every field a reader relies on."""
        return {
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "request_id": self.request_id,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self.previous_hash}\n{canonical}".encode()).hexdigest()
