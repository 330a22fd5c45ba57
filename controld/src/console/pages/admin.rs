//! Nodes (everyone reads; admins add and drain) and API tokens.

use lattice_proto::state::NodeState;
use lattice_proto::v1;
use maud::{Markup, html};

use super::{Viewer, csrf_field, field, layout};

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
}

/// A join token just made, with the command that uses it.
pub struct NewNode<'a> {
    /// The one-time token.
    pub token: &'a str,
    /// The control plane's URL as the browser reached it.
    pub control: &'a str,
}

/// Steps for a node: make a token (admins), then run the agent with it.
pub fn add_node(v: &Viewer, admin: bool, fresh: Option<&NewNode>, nodes: usize) -> Markup {
    html! {
        section.card #add-node data-nodes=(nodes) {
            h2 { "Add a machine" }
            @if !admin {
                p { "An admin of this server adds machines. Ask one to run " code { "lattice nodes join-token" } "." }
            } @else if let Some(n) = fresh {
                p { "On the machine that lends capacity (Docker running), run:" }
                @let cmd = format!("lattice-agentd --control {} --join-token {}", n.control, n.token);
                pre { code #join-command { (cmd) } }
                button.copy type="button" data-copy=(cmd) { "Copy" }
                p.hint { "The token works once, within an hour. This page notices when the machine joins." }
                p #node-arrived role="status" aria-live="polite" {}
            } @else {
                p { "Create a one-time join token, then start lattice-agentd with it on the machine." }
                form.inline method="post" action="/nodes/join-token" {
                    (csrf_field(v.csrf))
                    button.primary type="submit" { "Create a join token" }
                }
            }
        }
    }
}

/// The nodes page.
pub fn nodes(v: &Viewer, nodes: &[v1::Node], admin: bool, fresh: Option<&NewNode>) -> Markup {
    let body = html! {
        h1 { "Nodes" }
        @if nodes.is_empty() {
            p { "No machine has joined yet: workloads have nowhere to run." }
        } @else {
            table.workloads {
                thead { tr {
                    th { "Name" } th { "Status" } th { "CPU used / total" } th { "Memory used / total" } th { "Workloads" }
                    @if admin { th { "Address" } th { span.sr { "Actions" } } }
                } }
                tbody {
                    @for n in nodes {
                        @let state = NodeState::from_wire(n.status);
                        tr data-name=(n.name) {
                            td { (n.name) }
                            td { span class={"status " (if state == NodeState::Ready { "ok" } else { "bad" })} { (state.as_str()) }
                                 @if !n.status_message.is_empty() { " " (n.status_message) } }
                            td { (format!("{:.2} / {:.2}", f64::from(n.cpu_millis_used) / 1000.0, f64::from(n.cpu_millis_capacity) / 1000.0)) }
                            td { (gib(n.memory_bytes_used)) " / " (gib(n.memory_bytes_capacity)) }
                            td { (n.workloads) }
                            @if admin {
                                td { (n.address) }
                                td { @if state != NodeState::Draining {
                                    form.inline method="post" action={"/nodes/" (n.name) "/drain"} {
                                        (csrf_field(v.csrf))
                                        button type="submit" aria-label={"Drain " (n.name)} { "Drain" }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
        (add_node(v, admin, fresh, nodes.len()))
    };
    layout("Nodes", Some(v), body)
}

fn scope_name(raw: i32) -> &'static str {
    match v1::TokenScope::try_from(raw) {
        Ok(v1::TokenScope::Read) => "read",
        Ok(v1::TokenScope::Deploy) => "deploy",
        Ok(v1::TokenScope::Admin) => "admin",
        _ => "?",
    }
}

fn date(t: Option<&v1::Timestamp>) -> String {
    match t.map(|t| t.unix_millis) {
        Some(ms) if ms > 0 => time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .map(|d| format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
            .unwrap_or_default(),
        _ => "never".into(),
    }
}

/// A token just made: its secret, shown once, and what a CI job sets.
pub struct NewToken<'a> {
    /// The secret.
    pub secret: &'a str,
    /// `LATTICE_SERVER`.
    pub server: &'a str,
    /// `LATTICE_TRUST_FINGERPRINT`.
    pub fingerprint: &'a str,
}

/// The API tokens page.
pub fn tokens(
    v: &Viewer,
    tokens: &[v1::ApiToken],
    fresh: Option<&NewToken>,
    error: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "API tokens" }
        p { "For CI and scripts: a token works instead of signing in (" code { "LATTICE_TOKEN" } ")." }
        @if let Some(t) = fresh {
            section.card #new-token {
                h2 { "Your new token" }
                p.banner { "Copy it now: it is shown only once." }
                @let env = format!("export LATTICE_SERVER={}\nexport LATTICE_TRUST_FINGERPRINT={}\nexport LATTICE_TOKEN={}", t.server, t.fingerprint, t.secret);
                pre { code { (env) } }
                button.copy type="button" data-copy=(env) { "Copy" }
            }
        }
        section.card {
            h2 { "Create a token" }
            @if let Some(e) = error { p.error.banner role="alert" { (e) } }
            form method="post" action="/tokens" {
                (csrf_field(v.csrf))
                (field("Name", "name", "text", "", None))
                div.field {
                    label for="f-scope" { "Scope" }
                    select id="f-scope" name="scope" {
                        option value="read" { "read: list, status, logs" }
                        option value="deploy" selected { "deploy: read, and change workloads" }
                        option value="admin" { "admin: everything your account may do" }
                    }
                }
                div.field {
                    label for="f-expires" { "Expires" }
                    select id="f-expires" name="expires" {
                        option value="7" { "in 7 days" }
                        option value="30" selected { "in 30 days" }
                        option value="90" { "in 90 days" }
                        option value="0" { "never" }
                    }
                }
                button.primary type="submit" { "Create token" }
            }
        }
        @if !tokens.is_empty() {
            table.workloads #tokens {
                thead { tr { th { "Name" } th { "Scope" } th { "Created" } th { "Expires" } th { "Last used" } th { span.sr { "Actions" } } } }
                tbody {
                    @for t in tokens {
                        tr data-name=(t.name) {
                            td { (t.name) }
                            td { (scope_name(t.scope)) }
                            td { (date(t.created_at.as_ref())) }
                            td { (date(t.expires_at.as_ref())) }
                            td { (date(t.last_used_at.as_ref())) }
                            td { form.inline method="post" action={"/tokens/" (t.name) "/revoke"} {
                                (csrf_field(v.csrf))
                                button.danger type="submit" aria-label={"Revoke " (t.name)} { "Revoke" }
                            } }
                        }
                    }
                }
            }
        }
    };
    layout("API tokens", Some(v), body)
}

/// The help page: how to connect to each kind, and a word to the admins.
pub fn help(v: &Viewer, sent: bool, error: Option<&str>) -> Markup {
    let host = v.host;
    let body = html! {
        h1 { "Help" }
        section.card {
            h2 { "Connecting to your workloads" }
            p { "Every workload with a port gets a public endpoint on this server (" code { (host) } "), reachable from any computer that reaches this page. Open a workload, press " em { "Reveal credentials" } " and copy the ready-made line." }
            h3 { "Postgres" }
            pre { code { "psql \"postgresql://USER:PASSWORD@" (host) ":PORT/DATABASE\"" } }
            h3 { "S3 object storage" }
            pre { code { "AWS_ACCESS_KEY_ID=KEY AWS_SECRET_ACCESS_KEY=SECRET \\\n  aws --endpoint-url http://" (host) ":PORT s3 ls" } }
            h3 { "Your own image" }
            pre { code { "curl http://" (host) ":PORT/" } }
            p { "From a terminal, " code { "lattice access NAME" } " prints the same, and " code { "lattice logs -f NAME" } " follows the logs." }
        }
        section.card #feedback {
            h2 { "Tell us what to improve" }
            @if sent { p.banner role="status" { "Thank you: your message reached the admins." } }
            form method="post" action="/help" {
                (csrf_field(v.csrf))
                div.field {
                    label for="f-message" { "Message" }
                    @if let Some(e) = error {
                        textarea id="f-message" name="message" rows="4" aria-invalid="true" aria-describedby="f-message-error" {}
                        p.error id="f-message-error" role="alert" { (e) }
                    } @else {
                        textarea id="f-message" name="message" rows="4" {}
                    }
                }
                button.primary type="submit" { "Send" }
            }
        }
    };
    layout("Help", Some(v), body)
}
