//! What the service tells about itself: request ids, `/metrics`, health,
//! per-tenant figures, analytics across placements and the advisor.
//!
//! The Prometheus recorder is global to the process, so only `metrics`
//! counts requests of the `basic` plan; the other tests here use other
//! plans.

mod access;
mod advice;
mod analytics;
mod health;
mod metrics;
mod request_id;

use fsa_testkit::Json;

/// Asserts a problem+json body with this status and code.
pub fn assert_problem(status: u16, body: &Json, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
}
