"""Room scan: find the visible floor in a room photo, with real computer vision end to end."""
