"""Experiments: run probes over endpoints and return frozen results.

ping, run_through_link, blast, compare_speed, fan_out, sender_cost. Nothing
here draws; figures live in ``labsock._viz``. The fan-out loop is one
``FanOutSession``, which ``fan_out`` runs once and the multicast lab panel
keeps alive between bursts.
"""
