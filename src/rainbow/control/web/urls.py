"""The control plane's URLs: the admin at ``/admin/``, the REST API at ``/api/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from rainbow.control.web.api import api

admin.site.site_header = "Rainbow control plane"
admin.site.site_title = "Rainbow"
admin.site.index_title = "Registry, runs and releases"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
