"""The support page: ask billing questions, a bot answers with the agent tools."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..forms import SupportQuestionForm
from ..support import SupportBot


@login_required
def support(request: HttpRequest) -> HttpResponse:
    form = SupportQuestionForm(request.POST or None)
    reply = None
    if request.method == "POST" and form.is_valid():
        reply = SupportBot(request.user).ask(form.cleaned_data["question"])
        form = SupportQuestionForm()
    context = {
        "form": form,
        "reply": reply,
        "asked": request.POST.get("question"),
        "nav": "support",
    }
    return render(request, "notes/support.html", context)
