"""Figures: style and every figure builder (they read results, never touch sockets)."""
