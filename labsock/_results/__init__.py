"""Frozen result records that experiments return and figures read.

They carry the raw per-packet records, so every number and every plot can be
re-derived from them. Imports only ``labsock._core``.
"""
