"""Sign-up (login and logout are Django's own views)."""

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from django_polar import claims

from ..forms import SignupForm


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in; the Polar customer is created at the first checkout."""
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "notes:pricing")
    context = {
        "form": form,
        "next": next_url,
        # A guest who just paid: the purchase waits in this browser's session.
        "guest_purchase": bool(claims.pending_checkout_ids(request)),
    }
    return render(request, "notes/signup.html", context)
