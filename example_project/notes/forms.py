"""Forms of Jotter's pages."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from .models import Note, Team


class SignupForm(UserCreationForm):
    """Sign-up with an email address: Polar sends receipts there."""

    email = forms.EmailField(required=True, help_text="Receipts and invoices go here.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if get_user_model()._default_manager.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ("title", "body")
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}


class TeamForm(forms.ModelForm):
    """A team and the address Polar bills it at.

    Polar keeps one customer per email address, and nothing here verifies that an address
    belongs to whoever types it: a team billed at a person's address (anyone's, the
    owner's too) would take that person's own Polar customer and make their own checkout
    fail with a conflict. So the billing email is the team's own, or empty.
    """

    class Meta:
        model = Team
        fields = ("name", "billing_email")
        help_texts = {
            "billing_email": "The team's own billing address (not a person's account email); "
            "optional."
        }

    def clean_billing_email(self) -> str:
        email = self.cleaned_data["billing_email"].strip()
        if not email:
            return email
        if get_user_model()._default_manager.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "This is the email of a Jotter account; use the team's own billing address "
                "(e.g. billing@your-company.com) or leave it empty."
            )
        others = Team.objects.filter(billing_email__iexact=email).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("Another team is billed at this address.")
        return email


class SeatsForm(forms.Form):
    """How many seats a team buys (Polar accepts 1 to 10000)."""

    seats = forms.IntegerField(min_value=1, max_value=1000, initial=3)


class SwapForm(forms.Form):
    """Change plan: the target must be an active recurring product of the mirror."""

    product = forms.UUIDField()


class SupportQuestionForm(forms.Form):
    question = forms.CharField(
        max_length=500,
        widget=forms.TextInput(
            attrs={"placeholder": "What is my plan? Show my invoices. How do I cancel?"}
        ),
    )
