"""The demo school: a school, its staff and pupils, built on the first run of ``handover demo``."""
