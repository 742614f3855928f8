"""Analyses computed from a run store: tables and figure data, no rendering.

``autoenc.report`` turns their results into HTML and Markdown; nothing here trains a model.
"""
