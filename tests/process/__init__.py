"""ocac as real processes: kill -9 at each step of a commit, locks, many writers and readers at once."""
