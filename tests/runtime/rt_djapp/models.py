from __future__ import annotations

from django.conf import settings
from django.db import models

from orgguard.runtime.django import OrgScopedManager, OrgScopedQuerySet


class Organization(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        app_label = "rt_djapp"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    role = models.CharField(max_length=30, default="member")

    class Meta:
        app_label = "rt_djapp"
        unique_together = (("user", "organization"),)


class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)
    issued = models.DateField(null=True)

    objects = OrgScopedManager()

    class Meta:
        app_label = "rt_djapp"


class ProjectQuerySet(OrgScopedQuerySet):
    org_field = "workspace"

    def active(self):
        return self.filter(archived=False)


class Project(models.Model):
    """Scoped by a differently named field, through a custom queryset's as_manager()."""

    workspace = models.ForeignKey(Organization, on_delete=models.CASCADE)
    name = models.CharField(max_length=50)
    archived = models.BooleanField(default=False)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        app_label = "rt_djapp"


class Task(models.Model):
    """Scoped with OrgScopedManager(org_field=...)."""

    team = models.ForeignKey(Organization, on_delete=models.CASCADE)
    title = models.CharField(max_length=50)

    objects = OrgScopedManager(org_field="team")

    class Meta:
        app_label = "rt_djapp"
