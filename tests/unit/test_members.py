"""Sign-up, membership decisions, remember-me and password reset."""
import re

import pytest

from marketplace.core.errors import Conflict, NotAllowed, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members import services
from marketplace.members.models import College, MembershipStatus
from tests.factories import PASSWORD, get_admin, login, make_member


def test_passwords_are_hashed_with_argon2(app):
    user = services.register("a@test.coop", "a long password", "A")
    assert user.password_hash.startswith("$argon2") and "a long password" not in user.password_hash
    assert services.authenticate("A@Test.coop", "a long password") is user
    assert services.authenticate("a@test.coop", "wrong") is None


def test_duplicate_email_and_short_password_are_refused(app):
    services.register("a@test.coop", "a long password", "A")
    with pytest.raises(Conflict):
        services.register("A@test.coop", "another password", "B")
    with pytest.raises(ServiceError, match="at least 8"):
        services.register("b@test.coop", "short", "B")


def test_approval_gives_sequential_member_numbers_and_shares(app):
    first = make_member("one@test.coop")
    second = make_member("two@test.coop", College.PRODUCER)
    assert second.membership.member_number == first.membership.member_number + 1
    assert first.membership.shares_total_cents == 2000
    assert second.producer_profile is not None  # producers get a public profile on approval


def test_rejection_needs_a_reason_that_the_applicant_sees(app, client):
    admin = get_admin()
    applicant = make_member("c@test.coop", active=False)
    with pytest.raises(ServiceError):
        services.reject_membership(admin, applicant.membership.id, "  ")
    services.reject_membership(admin, applicant.membership.id, "We only serve Nantes for now")
    db.session.commit()
    login(client, applicant)
    page = client.get("/me").data.decode()
    assert "We only serve Nantes for now" in page
    # They may apply again.
    services.apply_for_membership(applicant, College.BUYER)
    assert applicant.membership.status == MembershipStatus.PENDING


def test_only_admins_decide(app):
    applicant = make_member("d@test.coop", active=False)
    other = make_member("e@test.coop")
    with pytest.raises(NotAllowed):
        services.approve_membership(other, applicant.membership.id)
    assert applicant.membership.status == MembershipStatus.PENDING


def test_suspended_member_cannot_order_and_is_told_why(app):
    member = make_member("f@test.coop")
    services.change_membership_status(get_admin(), member.membership.id, MembershipStatus.SUSPENDED, "Unpaid shares")
    with pytest.raises(NotAllowed, match="suspended: Unpaid shares"):
        services.require_active_member(member)


def test_remember_me_sets_a_persistent_cookie(app, client):
    make_member("g@test.coop")
    db.session.commit()
    response = client.post("/login", data={"email": "g@test.coop", "password": PASSWORD, "remember": "y"})
    assert any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))
    response = client.post("/logout")
    assert response.status_code == 302


def test_password_reset_link_works_once(app, client):
    make_member("h@test.coop")
    db.session.commit()
    client.post("/password/forgot", data={"email": "h@test.coop"})
    client.post("/password/forgot", data={"email": "nobody@test.coop"})  # same answer, no e-mail
    mail = db.session.query(OutboundEmail).filter(OutboundEmail.subject.contains("Reset")).one()
    assert mail.recipient == "h@test.coop"
    path = re.search(re.escape(app.config["PUBLIC_URL"]) + r"(/password/reset/\S+)", mail.body).group(1)
    assert client.post(path, data={"password": "brand new password"}).status_code == 302
    assert services.authenticate("h@test.coop", "brand new password") is not None
    again = client.post(path, data={"password": "another new password"})
    assert again.status_code == 400 and b"already been used" in again.data
    assert client.post("/password/reset/forged-token", data={"password": "whatever123"}).status_code == 400
