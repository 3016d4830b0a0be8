"""The product itself: notes, with a free-plan limit and Pro-only AI summaries."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from django_polar.access import subscription_required

from ..forms import NoteForm
from ..models import FREE_NOTE_LIMIT, Note
from ..pricing import metered_product

#: The usage event name the metered plan's meter counts (see the demo catalog).
SUMMARY_EVENT = "ai_summary"
#: The subscription type of the AI add-on (checkout metadata puts it on the subscription).
AI_SUBSCRIPTION = "ai"


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("notes:notes")
    return render(request, "notes/home.html")


@login_required
def note_list(request: HttpRequest) -> HttpResponse:
    notes = Note.objects.filter(owner=request.user)
    pro = request.user.subscribed()
    can_add = pro or notes.count() < FREE_NOTE_LIMIT
    form = NoteForm(request.POST or None)
    if request.method == "POST":
        if not can_add:
            messages.warning(
                request,
                f"The free plan keeps {FREE_NOTE_LIMIT} notes. Upgrade to Pro for unlimited notes.",
            )
            return redirect("notes:pricing")
        if form.is_valid():
            note = form.save(commit=False)
            note.owner = request.user
            note.save()
            messages.success(request, "Note saved.")
            return redirect("notes:notes")
    context = {
        "notes": notes,
        "form": form,
        "pro": pro,
        "can_add": can_add,
        "limit": FREE_NOTE_LIMIT,
        "nav": "notes",
    }
    return render(request, "notes/notes.html", context)


@login_required
def note_detail(request: HttpRequest, pk: int) -> HttpResponse:
    note = get_object_or_404(Note, pk=pk, owner=request.user)
    form = NoteForm(request.POST or None, instance=note)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Note updated.")
        return redirect(note)
    metered = metered_product()
    can_summarize = request.user.subscribed(type=AI_SUBSCRIPTION)
    context = {
        "note": note,
        "form": form,
        "can_summarize": can_summarize,
        "metered": metered,
        "nav": "notes",
    }
    return render(request, "notes/note.html", context)


@login_required
@require_POST
def summarize(request: HttpRequest, pk: int) -> HttpResponse:
    """An "AI summary": the first sentence, metered through Polar's usage billing."""
    note = get_object_or_404(Note, pk=pk, owner=request.user)
    if not request.user.subscribed(type=AI_SUBSCRIPTION):
        messages.warning(request, "AI summaries need the pay-as-you-go plan.")
        return redirect("notes:pricing")
    request.user.ingest_usage(SUMMARY_EVENT, {"note_id": note.pk, "characters": len(note.body)})
    first = (note.body.strip().split(".")[0] or note.title).strip()
    messages.success(request, f"Summary: {first[:160]}. (1 AI summary recorded for billing.)")
    return redirect(note)


@subscription_required(redirect_to="notes:pricing")
def insights(request: HttpRequest) -> HttpResponse:
    """Pro only: statistics about your notes (gated by @subscription_required)."""
    notes = list(Note.objects.filter(owner=request.user))
    words = sum(len(n.body.split()) for n in notes)
    longest = max(notes, key=lambda n: len(n.body), default=None)
    context = {"count": len(notes), "words": words, "longest": longest, "nav": "insights"}
    return render(request, "notes/insights.html", context)
