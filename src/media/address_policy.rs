//! Which network addresses the URL fetcher may connect to.
