"""Helpers for what every computer-vision module would otherwise write again: reading photos
upright, writing images and arrays whole (``rainbow.helpers.images``).

They need numpy and Pillow, which Rainbow itself does not: ``pip install 'rainbow[vision]'``.
Importing this package imports neither; importing ``rainbow.helpers.images`` without them
raises an ImportError that says so.
"""
