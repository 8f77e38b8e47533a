"""The control plane's rules (registry, release gates, runs, roles, tokens), the same whichever
way people come: the API, the admin and the CLI all call these."""
