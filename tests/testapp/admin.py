"""Tests-only admin: shows how a project puts Polar billing on its own user admin."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as AuthUserAdmin

from django_polar.admin.billable import PolarBillableAdminMixin, PolarCustomerInline

from .models import Team, User


@admin.register(User)
class UserAdmin(PolarBillableAdminMixin, AuthUserAdmin):
    inlines = [PolarCustomerInline]


@admin.register(Team)
class TeamAdmin(PolarBillableAdminMixin, admin.ModelAdmin):
    list_display = ("name", "owner")
    inlines = [PolarCustomerInline]
