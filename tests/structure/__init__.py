"""The floor plan: imports go down the layers, and the public surface is exported once."""
