"""Contracts' pages: members subscribe, declare absences and see their schedule; admins and producers define
contracts and record instalments; standing orders start from the cart."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.contracts import services
from marketplace.contracts.models import ContractStatus, PaymentMeans
from marketplace.contracts.pdf import accepted_text, contract_pdf
from marketplace.contracts.services.schedule import RECORDED_MEANS
from marketplace.core.errors import ServiceError
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import MoneyError, parse_cents
from marketplace.web import REFUSED, act, form_status, perform, request_int

bp = Blueprint("contracts", __name__)
bp.add_app_template_global(accepted_text, "contract_accepted_text")

MAX_BASKET_ROWS = 8


def _means(raw: str | None) -> PaymentMeans:
    try:
        return PaymentMeans(raw or "")
    except ValueError:
        raise ServiceError(_("Choose how you pay."), "means") from None


# ---------------------------------------------------------------- members

@bp.route("/contracts")
@login_required
def index():
    return render_template("contracts/index.html", contracts=services.open_contracts(),
                           subscriptions=services.subscriptions_of(current_user))


@bp.route("/contracts/<int:contract_id>")
@login_required
def contract(contract_id: int):
    contract = services.get_contract(contract_id)
    return render_template("contracts/contract.html", contract=contract,
                           season=services.season_distributions(contract.series_key))


@bp.route("/contracts/<int:contract_id>/subscribe", methods=["POST"])
@login_required
def subscribe(contract_id: int):
    back = url_for("contracts.contract", contract_id=contract_id)

    def run():
        require_active_member(current_user)
        return services.subscribe(current_user, contract_id, accepted=bool(request.form.get("accept")),
                                  accepted_version=request_int("version", 0, form=True, maximum=10_000),
                                  means=_means(request.form.get("means")),
                                  share=request_int("share", 1, form=True, minimum=1, maximum=10))

    subscription = perform(run, back=back, success=_("You are subscribed. Your contract is below."))
    return redirect(url_for("contracts.subscription", subscription_id=subscription.id), 303)


@bp.route("/subscriptions/<int:subscription_id>")
@login_required
def subscription(subscription_id: int):
    sub = services.own_subscription(current_user, subscription_id)
    return render_template("contracts/subscription.html", sub=sub, plan=_plan(sub),
                           balance=services.balance(sub) if sub.contract else None,
                           absences_left=services.absences_left(sub) if sub.contract else None)


def _plan(sub) -> list:
    """(distribution, plan, choice) for each delivery; a standing order's baskets are its share."""
    choices = services.choices_of(sub)
    if sub.contract is not None:
        return [(d, p, choices.get(d.id)) for d, p in services.delivery_plan(sub)]
    from marketplace.contracts.services.schedule import subscriber_distributions

    return [(d, None, choices.get(d.id)) for d in subscriber_distributions(sub)]


@bp.route("/subscriptions/<int:subscription_id>/contract.pdf")
@login_required
def contract_document(subscription_id: int):
    sub = services.own_subscription(current_user, subscription_id)
    if sub.contract is None:
        abort(404)
    return Response(contract_pdf(sub), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="contract-{sub.id}.pdf"'})


def _back(subscription_id: int) -> str:
    return url_for("contracts.subscription", subscription_id=subscription_id)


@bp.route("/subscriptions/<int:subscription_id>/deliveries/<int:distribution_id>/absence", methods=["POST"])
@login_required
def absence(subscription_id: int, distribution_id: int):
    handover = request.form.get("handover_to", "")
    return act(services.declare_absence, current_user, subscription_id, distribution_id, handover,
               success=_("Hand-over noted.") if handover.strip() else _("Absence noted: no basket this time."),
               back=_back(subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/deliveries/<int:distribution_id>/present", methods=["POST"])
@login_required
def present(subscription_id: int, distribution_id: int):
    return act(services.withdraw_absence, current_user, subscription_id, distribution_id,
               success=_("Your basket is back on."), back=_back(subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/deliveries/<int:distribution_id>/baskets", methods=["POST"])
@login_required
def baskets(subscription_id: int, distribution_id: int):
    def run():
        services.own_subscription(current_user, subscription_id)  # someone else's: a 404 before the input
        return services.set_baskets(current_user, subscription_id, distribution_id,
                                    request_int("baskets", form=True, required=True, maximum=10))

    return act(run,
               success=_("Baskets changed for this delivery."), back=_back(subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/pay", methods=["POST"])
@login_required
def pay_from_account(subscription_id: int):
    return act(services.pay_instalment_from_account, current_user, subscription_id,
               success=_("Instalment paid from your account."), back=_back(subscription_id))


@bp.route("/subscriptions/<int:subscription_id>/stop", methods=["POST"])
@login_required
def stop(subscription_id: int):
    return act(services.stop_standing_order, current_user, subscription_id, success=_("Standing order stopped."),
               back=_back(subscription_id))


@bp.route("/standing-orders/from-cart", methods=["POST"])
@login_required
def standing_from_cart():
    from marketplace.orders import services as orders

    def run():
        require_active_member(current_user)
        cart = orders.get_cart(current_user)
        if cart.distribution is None or not cart.distribution.series_key:
            raise ServiceError(_("Choose a weekly distribution for your cart first."))
        return services.start_standing_order(current_user, cart.distribution.series_key,
                                             {item.variant_id: item.quantity for item in cart.items},
                                             starts_after=cart.distribution.cutoff_at)

    sub = perform(run, back=url_for("orders.cart"),
                  success=_("Standing order started: this basket will be ordered for you every week."))
    return redirect(url_for("contracts.subscription", subscription_id=sub.id), 303)


# ---------------------------------------------------------------- admins and producers

@bp.route("/manage/contracts")
@login_required
def manage():
    return render_template("contracts/manage.html", contracts=services.managed_contracts(current_user))


def _contract_input() -> services.ContractInput:
    form = request.form
    try:
        price = parse_cents(form.get("price"))
    except MoneyError:
        raise ServiceError(_("Enter the price of one delivery, e.g. 18.50."), "price") from None
    items = []
    for row in range(MAX_BASKET_ROWS):
        variant_id = request_int(f"variant_{row}", form=True)
        if variant_id:
            items.append((variant_id, request_int(f"quantity_{row}", 1, form=True, minimum=1, maximum=99)))
    means = []
    for raw in form.getlist("means"):
        means.append(_means(raw))
    return services.ContractInput(
        title=form.get("title", ""), series_key=form.get("series_key", "")[:40], price_per_delivery_cents=price,
        items=tuple(items), instalments=request_int("instalments", 1, form=True, minimum=1, maximum=52),
        payment_means=tuple(means), allowed_absences=request_int("allowed_absences", 0, form=True, maximum=52),
        quantities_changeable=bool(form.get("quantities_changeable")), content=form.get("content", "")[:2000],
        text=form.get("text", ""))


class PostedContract:
    """The new-contract form as posted (plain HTML fields): what was typed, and each field's errors, so that a
    refusal (web.perform with form=) shows the form again, filled in, with the reason next to its field."""

    FIELDS = ("title", "series_key", "content", "items", "price", "instalments", "payment_means", "means",
              "allowed_absences", "text")

    def __init__(self, values=None) -> None:
        self.values = values
        for name in self.FIELDS:
            setattr(self, name, SimpleNamespace(errors=[]))

    @property
    def errors(self) -> dict[str, list[str]]:
        return {name: getattr(self, name).errors for name in self.FIELDS if getattr(self, name).errors}

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default) if self.values is not None else default

    def chosen(self, name: str) -> list[str]:
        return self.values.getlist(name) if self.values is not None else []


@bp.route("/manage/contracts/new", methods=["GET", "POST"])
@login_required
def new_contract():
    from marketplace.contracts.services.defining import contract_choices

    choices = contract_choices(current_user)
    posted = PostedContract(request.form if request.method == "POST" else None)
    if request.method == "POST":
        created = perform(lambda: services.create_contract(current_user, _contract_input()), form=posted,
                          success=_("Contract created."))
        if created is not REFUSED:
            return redirect(url_for("contracts.manage_contract", contract_id=created.id), 303)
    return render_template("contracts/new.html", choices=choices, rows=range(MAX_BASKET_ROWS),
                           means=list(PaymentMeans), form=posted), form_status(posted if posted.values else None)


@bp.route("/manage/contracts/<int:contract_id>")
@login_required
def manage_contract(contract_id: int):
    from marketplace.contracts.services.schedule import subscribers_page

    contract = services.get_contract(contract_id)
    services.require_contract_manager(current_user, contract)
    subscribers = subscribers_page(contract, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("contracts/manage_contract.html", contract=contract, result=subscribers.pages,
                           balances=subscribers.balances, recorded_means=RECORDED_MEANS, ContractStatus=ContractStatus)


@bp.route("/manage/contracts/<int:contract_id>/text", methods=["POST"])
@login_required
def revise_text(contract_id: int):
    return act(services.revise_text, current_user, contract_id, request.form.get("text", ""),
               success=_("New version of the text saved."),
               back=url_for("contracts.manage_contract", contract_id=contract_id))


@bp.route("/manage/contracts/<int:contract_id>/status", methods=["POST"])
@login_required
def contract_status(contract_id: int):
    def run():
        services.require_contract_manager(current_user, services.get_contract(contract_id))
        try:
            status = ContractStatus(request.form.get("status", ""))
        except ValueError:
            raise ServiceError(_("Unknown status.")) from None
        return services.set_contract_status(current_user, contract_id, status)

    return act(run, back=url_for("contracts.manage_contract", contract_id=contract_id))


@bp.route("/manage/subscriptions/<int:subscription_id>/stop", methods=["POST"])
@login_required
def stop_subscription(subscription_id: int):
    return act(services.stop_subscription, current_user, subscription_id, request.form.get("reason", "")[:1000],
               success=_("Subscription stopped; the member has been told."), back=url_for("contracts.manage"))


@bp.route("/manage/subscriptions/<int:subscription_id>/instalments", methods=["POST"])
@login_required
def record_instalment(subscription_id: int):
    def run():
        require_admin(current_user)
        return services.record_instalment(current_user, subscription_id, _means(request.form.get("means")))

    return act(run,
               success=_("Instalment recorded."), back=url_for("contracts.manage"))

