"""Search quality on a labelled query set: `python -m evaluation --queries FILE` (or `python main.py evaluate`).

queries.py reads the query file, rules.py resolves relevance rules over labels.csv, runner.py searches
the indexed collection, metrics.py scores the rankings, report.py and plots.py write the results.
"""
