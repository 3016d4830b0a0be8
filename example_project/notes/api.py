"""A Pro-only JSON endpoint: shows django-polar's DRF permission classes in use."""

from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import ModelSerializer

from django_polar.api.permissions import HasActiveSubscription

from .models import Note


class NoteExportSerializer(ModelSerializer):
    class Meta:
        model = Note
        fields = ("id", "title", "body", "created_at", "updated_at")


class NoteExportView(ListAPIView):
    """Export all notes as JSON: a Pro feature (403 without a valid subscription)."""

    permission_classes = [IsAuthenticated, HasActiveSubscription]
    serializer_class = NoteExportSerializer
    pagination_class = None  # an export is the whole list

    def get_queryset(self):
        return Note.objects.filter(owner=self.request.user)
