"""Example notes web app deployed by relkit (stdlib only)."""
