//! Which failures are retried, and how long to wait between attempts.
