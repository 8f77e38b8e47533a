"""The control plane: Rainbow's runs (and later registry, approvals, admin, REST API) on Django.

Importing this package imports nothing of Django: :func:`rainbow.control.django_setup.configure`
sets Django up when a command actually needs the database, and only then may
``rainbow.control.models`` and ``rainbow.control.persistence.store`` be imported.
"""
