//! A form post the console accepts: decoded, and only when it carries the
//! browser's CSRF token and comes from this site (see `session.rs`).

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;

use super::Console;
use super::pages;
use super::session::{SameOrigin, form_allowed};

/// A form with a `_csrf` field.
pub trait CsrfField {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfField`] for form structs with a `csrf` field.
macro_rules! csrf_forms {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::console::form::CsrfField for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use csrf_forms;

/// A decoded form whose CSRF token and origin were checked.
pub struct Checked<T>(pub T);

/// What a refused form post gets.
pub fn expired() -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::problem(
            None,
            "Form expired",
            "This form was not sent from this page (or your browser's cookies were reset). \
             Go back, reload the page and send it again.",
        ),
    )
        .into_response()
}

impl<T> FromRequest<Console> for Checked<T>
where
    T: DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &Console) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let jar = CookieJar::from_headers(&parts.headers);
        let origin = match SameOrigin::from_request_parts(&mut parts, state).await {
            Ok(o) => o,
            Err(never) => match never {},
        };
        let req = Request::from_parts(parts, body);
        let Form(f) = Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if form_allowed(&jar, &origin, f.csrf()) {
            Ok(Self(f))
        } else {
            Err(expired())
        }
    }
}
