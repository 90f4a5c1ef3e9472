"""The Arkindex API: the client and its retry policy, paginated listings, file answers."""
