"""The resilience fault suite: the full local stack, faults, and a checked history."""
