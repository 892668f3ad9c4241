"""A city behind one address: ``handover route`` passes each request to the service of its
school's district (one service per district schema or cluster), by a routing table."""
