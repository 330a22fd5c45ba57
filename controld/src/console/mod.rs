//! The web console, served by controld on the API's own address.

/// The console's routes.
pub fn router() -> axum::Router {
    axum::Router::new()
}
