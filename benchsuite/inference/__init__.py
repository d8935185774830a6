"""Statistics over layers and models: the held-out headline, intervals, paired comparisons, tiers, FDR."""
