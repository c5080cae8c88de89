//! The passthrough backend: everything to the originals, counted.
mod common;

use heap::Backend;

backend_suite!(Backend::Passthrough, ours: false, model_cases: 128, churn: 1_000_000);
