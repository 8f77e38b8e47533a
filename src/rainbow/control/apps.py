"""Django's entry point for Rainbow's control plane."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RainbowControlConfig(AppConfig):
    name = "rainbow.control"
    label = "rainbow"
    verbose_name = "Rainbow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rainbow.control.services.roles import ensure_groups

        # Django's admin looks for ``rainbow.control.admin``; the admin lives with the rest of
        # the web layer, and registers its models when imported.
        from rainbow.control.web import admin  # noqa: F401

        # Permissions exist only once every app is migrated: the role groups are made after.
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="rainbow-role-groups")
