//! The console's session: the API's own session (access and refresh token)
//! sealed into one HttpOnly, Secure, SameSite=Strict cookie, so the browser
//! holds what the CLI holds and can read none of it. Every console call goes
//! to the same gRPC service code in process with that access token; an
//! expired one is refreshed (rotating the refresh token, as the CLI does).
//!
//! CSRF: every form carries the value of a second HttpOnly cookie (double
//! submit), and a request whose `Origin` names another site is refused.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use lattice_proto::v1;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataValue;

use crate::secrets::SecretBox;

/// The session cookie.
pub const SESSION_COOKIE: &str = "lattice_session";
/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "lattice_csrf";
/// What the sealed cookie is bound to (the AEAD's associated data).
const SEAL_CONTEXT: &str = "console-session";

/// The tokens a signed-in browser holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// Access token (JWT).
    pub access: String,
    /// Refresh token.
    pub refresh: String,
    /// When the refresh token (so the session) ends, unix ms.
    pub until: i64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(…)")
    }
}

impl Tokens {
    /// From a session the auth service issued.
    pub fn of(s: &v1::Session) -> Self {
        Self {
            access: s.access_token.clone(),
            refresh: s.refresh_token.clone(),
            until: s.refresh_expires_at.as_ref().map_or(0, |t| t.unix_millis),
        }
    }

    /// A gRPC request carrying the access token and the browser's address.
    pub fn request<T>(&self, msg: T, peer: &Peer) -> tonic::Request<T> {
        let mut req = peer.request(msg);
        if let Ok(v) = MetadataValue::try_from(format!("Bearer {}", self.access)) {
            req.metadata_mut().insert("authorization", v);
        }
        req
    }
}

/// The browser's connection, passed on to the services (lockout and rate
/// limits per address, the audit log's source).
#[derive(Clone, Debug)]
pub struct Peer(pub Option<tonic::transport::server::TcpConnectInfo>);

impl Peer {
    /// A gRPC request from this peer.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(info) = &self.0 {
            req.extensions_mut().insert(info.clone());
        }
        req
    }
}

/// Seals and opens session cookies.
#[derive(Clone)]
pub struct Sessions {
    seal: SecretBox,
    /// Mark cookies Secure (always, outside unit tests).
    secure: bool,
}

impl Sessions {
    /// Cookies sealed with controld's secret box.
    pub fn new(seal: SecretBox) -> Self {
        Self { seal, secure: true }
    }

    /// The session in the jar, if it opens.
    pub fn open(&self, jar: &CookieJar) -> Option<Tokens> {
        let c = jar.get(SESSION_COOKIE)?;
        let raw = self.seal.open(SEAL_CONTEXT, c.value()).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    /// The jar with `t` as its session.
    pub fn store(&self, jar: CookieJar, t: &Tokens) -> CookieJar {
        let Ok(json) = serde_json::to_vec(t) else {
            return jar;
        };
        let Ok(sealed) = self.seal.seal(SEAL_CONTEXT, &json) else {
            return jar;
        };
        let max_age = (t.until - crate::clock::now_ms()).max(0) / 1000;
        jar.add(self.cookie(SESSION_COOKIE, sealed, max_age))
    }

    /// The jar without a session.
    pub fn clear(&self, jar: CookieJar) -> CookieJar {
        jar.remove(self.cookie(SESSION_COOKIE, String::new(), 0))
    }

    /// The jar's CSRF token, and the jar (with a new token when it had none).
    pub fn csrf(&self, jar: CookieJar) -> (String, CookieJar) {
        if let Some(c) = jar.get(CSRF_COOKIE)
            && c.value().len() == 43
        {
            return (c.value().to_string(), jar);
        }
        let token = crate::auth::tokens::random_token("");
        let jar = jar.add(self.cookie(CSRF_COOKIE, token.clone(), 0));
        (token, jar)
    }

    fn cookie(&self, name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
        let mut c = Cookie::build((name, value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .path("/")
            .build();
        if max_age_secs > 0 {
            c.set_max_age(time::Duration::seconds(max_age_secs));
        }
        c
    }
}

/// Whether a form post carries the jar's CSRF token and came from this site.
pub fn form_allowed(jar: &CookieJar, origin: &SameOrigin, submitted: &str) -> bool {
    let Some(expected) = jar.get(CSRF_COOKIE).map(|c| c.value().to_string()) else {
        return false;
    };
    let same = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), submitted.as_bytes());
    bool::from(same) && !expected.is_empty() && origin.0
}

/// Whether the browser's `Origin` (when it sends one) names the authority
/// the request was sent to: `Host`, or HTTP/2's `:authority`.
pub struct SameOrigin(pub bool);

impl SameOrigin {
    /// Compares the headers with the request's authority. A browser that
    /// says where a request comes from (`Sec-Fetch-Site`) must say this site;
    /// an `Origin` must name this authority (or be `null` from a page of this
    /// site, as a strict referrer policy makes it).
    pub fn of(headers: &HeaderMap, authority: Option<&str>) -> Self {
        let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
        let site = get("sec-fetch-site");
        if site.is_some_and(|s| s != "same-origin" && s != "none") {
            return Self(false);
        }
        let Some(origin) = get("origin") else {
            return Self(true);
        };
        if origin == "null" {
            return Self(site == Some("same-origin"));
        }
        let host = authority.or_else(|| get("host")).unwrap_or_default();
        Self(
            origin
                .strip_prefix("https://")
                .is_some_and(|o| !host.is_empty() && o == host),
        )
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SameOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(
            &parts.headers,
            parts.uri.authority().map(|a| a.as_str()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forms_need_the_cookie_token_and_the_same_origin() {
        let d = tempfile::tempdir().unwrap();
        let s = Sessions::new(SecretBox::load_or_create(d.path()).unwrap());
        let (token, jar) = s.csrf(CookieJar::new());
        assert_eq!(token.len(), 43);
        let (again, jar) = s.csrf(jar);
        assert_eq!(again, token, "one token per browser");
        let here = SameOrigin::of(
            &headers(&[
                ("host", "127.0.0.1:7443"),
                ("origin", "https://127.0.0.1:7443"),
            ]),
            None,
        );
        assert!(form_allowed(&jar, &here, &token));
        assert!(!form_allowed(&jar, &here, "forged"));
        assert!(!form_allowed(&jar, &here, ""));
        assert!(!form_allowed(&CookieJar::new(), &here, &token));
        // HTTP/2: no Host header, the authority is in the request line.
        let h2 = SameOrigin::of(
            &headers(&[("origin", "https://127.0.0.1:7443")]),
            Some("127.0.0.1:7443"),
        );
        assert!(form_allowed(&jar, &h2, &token));
        let elsewhere = SameOrigin::of(
            &headers(&[
                ("host", "127.0.0.1:7443"),
                ("origin", "https://evil.example"),
            ]),
            None,
        );
        assert!(!form_allowed(&jar, &elsewhere, &token));
        let no_origin = SameOrigin::of(&headers(&[("host", "x")]), None);
        assert!(form_allowed(&jar, &no_origin, &token));
        let null_here = SameOrigin::of(
            &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            Some("x"),
        );
        assert!(form_allowed(&jar, &null_here, &token));
        let null_away = SameOrigin::of(&headers(&[("origin", "null")]), Some("x"));
        assert!(!form_allowed(&jar, &null_away, &token));
        let cross = SameOrigin::of(&headers(&[("sec-fetch-site", "cross-site")]), Some("x"));
        assert!(!form_allowed(&jar, &cross, &token));
    }

    #[test]
    fn the_session_cookie_is_sealed_and_strict() {
        let d = tempfile::tempdir().unwrap();
        let s = Sessions::new(SecretBox::load_or_create(d.path()).unwrap());
        let t = Tokens {
            access: "access-canary".into(),
            refresh: "refresh-canary".into(),
            until: crate::clock::now_ms() + 3_600_000,
        };
        let jar = s.store(CookieJar::new(), &t);
        let c = jar.get(SESSION_COOKIE).unwrap();
        assert!(!c.value().contains("canary"), "sealed, not readable");
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Strict));
        assert_eq!(s.open(&jar).unwrap().refresh, "refresh-canary");
        assert!(!format!("{t:?}").contains("canary"));
        // Tampered: does not open.
        let bad = CookieJar::new().add(Cookie::new(SESSION_COOKIE, "AAAA"));
        assert!(s.open(&bad).is_none());
    }
}
