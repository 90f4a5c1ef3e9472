"""Files a run reads and writes: archives, the SQLite cache, Ponos task files, dataset archives."""
