from django.contrib.auth import views as auth_views
from django.urls import path

from django_polar.views import CheckoutView

from .embed import embed_script
from .views import auth, billing, notes, support, teams
from .views.notes import AI_SUBSCRIPTION

app_name = "notes"

urlpatterns = [
    path("", notes.home, name="home"),
    path("signup/", auth.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(template_name="notes/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notes/", notes.note_list, name="notes"),
    path("notes/<int:pk>/", notes.note_detail, name="note"),
    path("notes/<int:pk>/summarize/", notes.summarize, name="summarize"),
    path("insights/", notes.insights, name="insights"),
    path("pricing/", billing.pricing, name="pricing"),
    path("account/", billing.account, name="account"),
    path("account/subscriptions/<uuid:pk>/cancel/", billing.cancel, name="cancel"),
    path("account/subscriptions/<uuid:pk>/resume/", billing.resume, name="resume"),
    path("account/subscriptions/<uuid:pk>/swap/", billing.swap, name="swap"),
    path("account/orders/<uuid:pk>/invoice/", billing.invoice, name="invoice"),
    path("support/", support.support, name="support"),
    path("teams/", teams.team_list, name="teams"),
    path("teams/<int:pk>/", teams.team_detail, name="team"),
    path("teams/<int:pk>/members/", teams.team_add_member, name="team_add_member"),
    path("teams/<int:pk>/portal/", teams.team_portal, name="team_portal"),
    path("teams/<int:pk>/seats/", teams.team_assign_seat, name="team_assign_seat"),
    path(
        "teams/<int:pk>/seats/<uuid:seat_id>/revoke/",
        teams.team_revoke_seat,
        name="team_revoke_seat",
    ),
    path(
        "teams/<int:team_id>/checkout/<str:product>/",
        teams.TeamCheckoutView.as_view(),
        name="team_checkout",
    ),
    # The AI add-on is its own subscription type, so it never counts as "Pro".
    path(
        "checkout/ai/<str:product>/",
        CheckoutView.as_view(subscription_type=AI_SUBSCRIPTION),
        name="ai_checkout",
    ),
    path("polar-embed.js", embed_script, name="embed_script"),
]
