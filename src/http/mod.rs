//! The HTTP listener (`http.listener`): `/metrics`, `/healthz`, `/readyz` and the status
//! page at `/`.
//!
//! SKELETON: the HTTP helper fills this in.
