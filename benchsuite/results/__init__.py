"""Records and their schema, the leaderboard (tables and figures) and the run's time per phase."""
