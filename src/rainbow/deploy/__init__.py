"""The release flow from git: what a commit releases, its immutable artifact, and the
environment each artifact runs in."""
