//! The HTTP API. Empty until the booking API issue: see ../shared/API.md.
