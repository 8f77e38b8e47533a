"""Django's entry point for Rainbow's control plane."""

from __future__ import annotations

from django.apps import AppConfig


class RainbowControlConfig(AppConfig):
    name = "rainbow.control"
    label = "rainbow"
    verbose_name = "Rainbow"
    default_auto_field = "django.db.models.BigAutoField"
