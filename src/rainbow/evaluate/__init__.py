"""The functional-test harness: corpora with manifests, metrics aggregated over a corpus, and
comparisons with a baseline (the last main build's figures)."""
