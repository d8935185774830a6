"""Small data files shipped with the suite (label orders)."""
