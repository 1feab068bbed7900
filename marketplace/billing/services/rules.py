"""The fee rule: the coop's adoption settings, proposals, the members' vote, the rule in force."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.billing.allocation import FeeRule
from marketplace.billing.models import (
    RULE_TRANSITIONS,
    AdoptedVia,
    BillingSettings,
    FeeRuleVersion,
    RuleStatus,
    RuleVote,
    VoteChoice,
)
from marketplace.billing.services.common import COLLEGE_ORDER, _is_int
from marketplace.billing.services.periods import month_start
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import format_money
from marketplace.timeutil import utcnow

MAX_FLAT_CENTS = 100_000       # 1,000 EUR per member and period: far above any sane flat part
MAX_WEIGHT = 1_000_000



def get_billing_settings() -> BillingSettings:
    """The coop's billing settings (created with the defaults on first use)."""
    row = db.session.get(BillingSettings, 1)
    if row is None:
        row = BillingSettings(id=1, quorum_percent=25, majority_percent=50, allow_admin_decision=False)
        db.session.add(row)
        db.session.flush()
    return row


def update_billing_settings(admin: User, *, quorum_percent: int, majority_percent: int,
                            allow_admin_decision: bool) -> BillingSettings:
    """Change how a fee rule is adopted (admins only)."""
    require_admin(admin)
    if not _is_int(quorum_percent) or not 0 <= quorum_percent <= 100:
        raise ServiceError(_("The quorum is a percentage between 0 and 100."), "quorum_percent")
    if not _is_int(majority_percent) or not 0 <= majority_percent <= 99:
        raise ServiceError(_("The majority is a percentage between 0 and 99 (a rule needs more than it)."),
                           "majority_percent")
    row = get_billing_settings()
    row.quorum_percent, row.majority_percent = quorum_percent, majority_percent
    row.allow_admin_decision = bool(allow_admin_decision)
    db.session.flush()
    return row


@dataclass(frozen=True)
class RuleInput:
    flat_cents: dict[str, int]
    weights: dict[str, int]
    effective_from: date
    rationale: str = ""


def to_fee_rule(version: FeeRuleVersion) -> FeeRule:
    return FeeRule(flat_cents=version.flat_cents(), weights=version.weights())


def _validated_rule(data: RuleInput) -> FeeRule:
    for college in list(data.flat_cents) + list(data.weights):
        if college not in COLLEGE_ORDER:
            raise ServiceError(_("Unknown college: %(c)s.", c=college))
    for college, cents in data.flat_cents.items():
        if not _is_int(cents) or not 0 <= cents <= MAX_FLAT_CENTS:
            raise ServiceError(_("The flat part must be an amount between 0 and %(max)s.",
                                 max=format_money(MAX_FLAT_CENTS)), f"flat_{college}")
    for college, weight in data.weights.items():
        if not _is_int(weight) or not 0 <= weight <= MAX_WEIGHT:
            raise ServiceError(_("A weight is a whole number between 0 and %(max)d.", max=MAX_WEIGHT),
                               f"weight_{college}")
    try:
        return FeeRule(flat_cents=data.flat_cents, weights=data.weights)
    except ValueError:
        raise ServiceError(_("This rule cannot recover any cost: every flat part is zero and the weights sum to "
                             "nothing. Give at least one college a flat part or a weight above zero.")) from None


def propose_rule(admin: User, data: RuleInput) -> FeeRuleVersion:
    """Put a new version of the fee rule to the members' vote."""
    require_admin(admin)
    _validated_rule(data)
    if not isinstance(data.effective_from, date):
        raise ServiceError(_("Enter the month from which the rule applies."), "effective_from")
    latest = db.session.query(func.max(FeeRuleVersion.version)).scalar() or 0
    flat, weights = data.flat_cents, data.weights
    version = FeeRuleVersion(
        version=latest + 1, status=RuleStatus.VOTING, effective_from=month_start(data.effective_from),
        rationale=data.rationale.strip()[:4000], proposed_by_id=admin.id,
        **{f"flat_{c}_cents": flat.get(c, 0) for c in COLLEGE_ORDER},
        **{f"weight_{c}": weights.get(c, 0) for c in COLLEGE_ORDER})
    db.session.add(version)
    db.session.flush()
    return version


def get_rule(rule_id: int) -> FeeRuleVersion:
    rule = db.session.get(FeeRuleVersion, rule_id)
    if rule is None:
        raise NotFound(_("No such fee rule."))
    return rule


def _change_rule_status(rule: FeeRuleVersion, target: RuleStatus) -> None:
    if target not in RULE_TRANSITIONS[rule.status]:
        raise Conflict(_("This rule is no longer open to a decision (it is %(s)s).", s=rule.status.value))
    rule.status = target


def cast_vote(user: User, rule_id: int, choice: VoteChoice | str) -> RuleVote:
    """One active member, one vote on a proposed rule (a second vote replaces the first)."""
    require_active_member(user)
    try:
        choice = VoteChoice(getattr(choice, "value", choice))
    except ValueError:
        raise ServiceError(_("Vote for, against, or abstain."), "choice") from None
    rule = get_rule(rule_id)
    if rule.status != RuleStatus.VOTING:
        raise Conflict(_("The vote on this rule is closed."))
    vote = db.session.query(RuleVote).filter_by(rule_id=rule.id, user_id=user.id).one_or_none()
    if vote is None:
        vote = RuleVote(rule_id=rule.id, user_id=user.id, choice=choice)
        db.session.add(vote)
    else:
        vote.choice = choice
    db.session.flush()
    return vote


def _active_member_count() -> int:
    return db.session.query(func.count(Membership.id)).filter(Membership.status == MembershipStatus.ACTIVE).scalar()


def tally_vote(admin: User, rule_id: int) -> FeeRuleVersion:
    """Close the vote: adopted if the quorum is met and strictly more than the majority voted for."""
    require_admin(admin)
    rule = get_rule(rule_id)
    settings = get_billing_settings()
    counts = dict(db.session.query(RuleVote.choice, func.count(RuleVote.id))
                  .join(Membership, Membership.user_id == RuleVote.user_id)
                  .filter(RuleVote.rule_id == rule.id, Membership.status == MembershipStatus.ACTIVE)
                  .group_by(RuleVote.choice).all())
    votes_for = counts.get(VoteChoice.FOR, 0)
    votes_against = counts.get(VoteChoice.AGAINST, 0)
    votes_abstain = counts.get(VoteChoice.ABSTAIN, 0)
    electorate = _active_member_count()
    turnout = votes_for + votes_against + votes_abstain
    quorum_met = electorate > 0 and turnout * 100 >= settings.quorum_percent * electorate
    majority_met = votes_for > 0 and votes_for * 100 > settings.majority_percent * (votes_for + votes_against)
    _change_rule_status(rule, RuleStatus.ADOPTED if quorum_met and majority_met else RuleStatus.REJECTED)
    rule.electorate, rule.votes_for, rule.votes_against, rule.votes_abstain = (electorate, votes_for, votes_against,
                                                                               votes_abstain)
    rule.quorum_percent, rule.majority_percent = settings.quorum_percent, settings.majority_percent
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    if rule.status == RuleStatus.ADOPTED:
        rule.adopted_via = AdoptedVia.VOTE
    db.session.flush()
    return rule


def adopt_by_decision(admin: User, rule_id: int, ga_reference: str) -> FeeRuleVersion:
    """Adopt a rule decided by a general assembly, if the coop's settings allow it."""
    require_admin(admin)
    if not get_billing_settings().allow_admin_decision:
        raise NotAllowed(_("The coop's settings require a members' vote to adopt a fee rule."))
    ga_reference = (ga_reference or "").strip()
    if not ga_reference:
        raise ServiceError(_("Give the reference of the general assembly's decision."), "ga_reference")
    rule = get_rule(rule_id)
    _change_rule_status(rule, RuleStatus.ADOPTED)
    rule.adopted_via, rule.ga_reference = AdoptedVia.ADMIN_DECISION, ga_reference[:200]
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    db.session.flush()
    return rule


def withdraw_rule(admin: User, rule_id: int) -> FeeRuleVersion:
    require_admin(admin)
    rule = get_rule(rule_id)
    _change_rule_status(rule, RuleStatus.WITHDRAWN)
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    db.session.flush()
    return rule


def rule_in_force(on: date) -> FeeRuleVersion | None:
    """The adopted rule that applies to a period starting on `on` (latest effective, then latest version)."""
    return (db.session.query(FeeRuleVersion)
            .filter(FeeRuleVersion.status == RuleStatus.ADOPTED, FeeRuleVersion.effective_from <= on)
            .order_by(FeeRuleVersion.effective_from.desc(), FeeRuleVersion.version.desc()).first())
