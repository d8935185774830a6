"""Statistics over layers and models: pooled (the mean over image groups and its p), heldout (the held-out
headline, its interval and family-wise p) and comparisons (paired differences, FDR, tiers)."""
