"""Simulated trading for demos, benchmarks and tests: see docs/simulation.md.

``simulate(session_factory, Options(...))`` drives the public services (master data, POS, orders,
purchasing, transfers, counts, the ledger) day by day, deterministically for a seed, and returns a
JSON-ready summary.
"""

from retailcore.simulation.profile import PROFILE, Profile
from retailcore.simulation.simulator import Options, Simulator, last_simulated_day, simulate

__all__ = ["PROFILE", "Options", "Profile", "Simulator", "last_simulated_day", "simulate"]
