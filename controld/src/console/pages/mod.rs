//! The console's HTML, rendered on the server (maud: checked at compile
//! time, escaped by default). Pages load one script and one stylesheet from
//! `/assets/`; no inline script or style, so the Content-Security-Policy
//! can forbid both.

pub mod admin;
pub mod workloads;

use maud::{DOCTYPE, Markup, html};

/// Who is signed in, for the header.
pub struct Viewer<'a> {
    /// Their email.
    pub email: &'a str,
    /// The CSRF token forms carry.
    pub csrf: &'a str,
    /// The host the browser reached this server at (for endpoints that name none).
    pub host: &'a str,
}

/// A page around `body`.
pub fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Lattice" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Lattice" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            a href="/" { "Workloads" }
                            a href="/deploy" { "Deploy" }
                            a href="/nodes" { "Nodes" }
                            a href="/tokens" { "Tokens" }
                            a href="/help" { "Help" }
                        }
                        form.inline method="post" action="/logout" {
                            (csrf_field(v.csrf))
                            span.who { (v.email) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A form field with its label and, when there is one, its error.
pub fn field(label: &str, name: &str, kind: &str, value: &str, error: Option<&str>) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(e) = error {
                input id=(id) name=(name) type=(kind) value=(value)
                    aria-invalid="true" aria-describedby=(err_id);
                p.error id=(err_id) role="alert" { (e) }
            } @else {
                input id=(id) name=(name) type=(kind) value=(value);
            }
        }
    }
}

/// What a sign-in or sign-up form shows again after a refusal.
#[derive(Default)]
pub struct AuthForm<'a> {
    /// The email typed (never the password).
    pub email: &'a str,
    /// Error next to the email field.
    pub email_error: Option<&'a str>,
    /// Error next to the password field.
    pub password_error: Option<&'a str>,
    /// A sentence about the whole attempt (wrong password, lockout…).
    pub error: Option<&'a str>,
    /// Where to go after signing in.
    pub next: &'a str,
}

/// The sign-in page.
pub fn login(csrf: &str, f: &AuthForm) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Log in" }
            @if let Some(e) = f.error { p.error.banner role="alert" { (e) } }
            form method="post" action="/login" novalidate {
                (csrf_field(csrf))
                input type="hidden" name="next" value=(f.next);
                (field("Email", "email", "email", f.email, f.email_error))
                (field("Password", "password", "password", "", f.password_error))
                button.primary type="submit" { "Log in" }
            }
            p { "New here? " a href="/signup" { "Create an account" } }
        }
    };
    layout("Log in", None, body)
}

/// The sign-up page.
pub fn signup(csrf: &str, f: &AuthForm, invite: bool) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Create your account" }
            p { "Lattice runs databases, object storage and your own containers on machines you and your team lend. The first account on a server becomes its admin." }
            @if let Some(e) = f.error { p.error.banner role="alert" { (e) } }
            form method="post" action="/signup" novalidate {
                (csrf_field(csrf))
                (field("Email", "email", "email", f.email, f.email_error))
                (field("Password (at least 12 characters)", "password", "password", "", f.password_error))
                @if invite {
                    (field("Invite code", "invite", "text", "", None))
                }
                button.primary type="submit" { "Create account" }
            }
            p { "Have an account? " a href="/login" { "Log in" } }
        }
    };
    layout("Sign up", None, body)
}

/// A page for what does not exist (or is not the viewer's).
pub fn not_found(viewer: Option<&Viewer>, what: &str) -> Markup {
    let body = html! {
        section.card {
            h1 { "Not found" }
            p { (what) }
            a href="/" { "Back to your workloads" }
        }
    };
    layout("Not found", viewer, body)
}

/// A refusal that is not about one field.
pub fn problem(viewer: Option<&Viewer>, title: &str, sentence: &str) -> Markup {
    let body = html! {
        section.card {
            h1 { (title) }
            p.error role="alert" { (sentence) }
            a href="/" { "Back to your workloads" }
        }
    };
    layout(title, viewer, body)
}
