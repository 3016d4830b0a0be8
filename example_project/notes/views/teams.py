"""Teams: a second billable model. A team buys the seat-based plan for itself."""

import logging

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from django_polar.billable import Billable
from django_polar.errors import PolarError
from django_polar.identity import billable_from_external_id
from django_polar.views import CheckoutView

from ..forms import SeatsForm, TeamForm
from ..models import Team
from ..pricing import seat_products

logger = logging.getLogger(__name__)


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = form.save(commit=False)
        team.owner = request.user
        team.save()
        team.members.add(request.user)
        messages.success(request, f"Team {team.name} created.")
        return redirect(team)
    teams = Team.objects.filter(members=request.user).distinct()
    return render(request, "notes/teams.html", {"teams": teams, "form": form, "nav": "teams"})


@login_required
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.filter(members=request.user).distinct(), pk=pk)
    subscription = team.subscription()
    seats = list(subscription.assigned_seats()) if subscription and subscription.seats else []
    context = {
        "team": team,
        "is_owner": team.owner_id == request.user.pk,
        "subscription": subscription,
        "seats": [(seat, _holder(seat)) for seat in seats],
        "unseated": _unseated(team, seats),
        "plans": seat_products(),
        "seats_form": SeatsForm(initial={"seats": max(team.members.count(), 1)}),
        "nav": "teams",
    }
    return render(request, "notes/team.html", context)


@login_required
@require_POST
def team_add_member(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk, owner=request.user)
    username = request.POST.get("username", "").strip()
    user = get_user_model()._default_manager.filter(username=username).first()
    if user is None:
        messages.error(request, f"No user named {username!r}.")
    else:
        team.members.add(user)
        messages.success(request, f"{user.username} joined {team.name}.")
    return redirect(team)


def _holder(seat):
    """The user a seat is for (its member's external id), from the mirror."""
    member = seat.member
    external_id = member and (member.external_id or member.holder_external_id)
    return billable_from_external_id(external_id) if external_id else None


def _unseated(team, seats):
    taken = {holder.pk for holder in (_holder(s) for s in seats) if holder is not None}
    return [m for m in team.members.order_by("username") if m.pk not in taken]


def _team_subscription(request: HttpRequest, pk: int):
    team = get_object_or_404(Team, pk=pk, owner=request.user)
    subscription = team.subscription()
    if subscription is None or not subscription.seats:
        raise Http404("This team has no seat-based plan.")
    return team, subscription


@login_required
@require_POST
def team_assign_seat(request: HttpRequest, pk: int) -> HttpResponse:
    """Give a team member a seat: Polar invites them; claiming it grants the plan."""
    team, subscription = _team_subscription(request, pk)
    member = team.members.filter(username=request.POST.get("username", "").strip()).first()
    if member is None:
        messages.error(request, "Pick a member of the team.")
        return redirect(team)
    try:
        subscription.assign_seat(member)
    except PolarError as exc:
        logger.warning("Seat assignment refused: %s", exc)
        messages.error(request, getattr(exc, "message", None) or "Polar refused the seat.")
    else:
        messages.success(request, f"{member.username} was invited to a seat.")
    return redirect(team)


@login_required
@require_POST
def team_revoke_seat(request: HttpRequest, pk: int, seat_id) -> HttpResponse:
    team, subscription = _team_subscription(request, pk)
    seat = get_object_or_404(subscription.assigned_seats(), pk=seat_id)
    try:
        subscription.revoke_seat(seat)
    except PolarError as exc:
        logger.error("Seat revocation failed: %s", exc)
        messages.error(request, "Billing is unavailable right now; nothing changed.")
    else:
        messages.success(request, "The seat was revoked.")
    return redirect(team)


@login_required
def team_portal(request: HttpRequest, pk: int) -> HttpResponse:
    """The team's own Polar customer portal (owner only)."""
    team = get_object_or_404(Team, pk=pk, owner=request.user)
    try:
        return team.redirect_to_customer_portal(request.build_absolute_uri(team.get_absolute_url()))
    except PolarError as exc:
        logger.error("Team portal failed: %s", exc)
        messages.error(request, "The billing portal is unavailable right now; please try again.")
        return redirect(team)


class TeamCheckoutView(CheckoutView):
    """django-polar's checkout view, with the team (not the user) as the payer."""

    def get_billable(self) -> Billable:
        return get_object_or_404(Team, pk=self.kwargs["team_id"], owner=self.request.user)

    def get(self, request: HttpRequest, team_id: int, product: str) -> HttpResponse:
        return self.create(request, product)

    def post(self, request: HttpRequest, team_id: int, product: str) -> HttpResponse:
        return self.create(request, product)
