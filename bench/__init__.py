"""The gateway's performance harness: ``python -m bench`` (see the README's "Performance" section).

It is a tool, not a test: it measures the gateway and, in the same run, reference endpoints doing
the bare minimum with the same key and the same body, and reports ratios, because absolute figures
on these machines drift from run to run. Only 127.0.0.1 is ever targeted, every load run is bounded
in time, and every server it starts is stopped by its process id.
"""
