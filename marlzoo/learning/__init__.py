"""The learning building blocks: agent networks and encoders, action heads and distributions,
exploration, running normalisation, value tables, and the deep Q-learning core."""
