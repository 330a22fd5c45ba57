//! Workload pages: the dashboard, one workload, the deploy form.

use lattice_proto::state::Status;
use lattice_proto::v1;
use maud::{Markup, html};

use super::{Viewer, csrf_field, field, layout};

/// A status word and the class that colours it (the word is always shown:
/// status never by colour alone).
pub fn status_badge(raw: i32) -> Markup {
    let name = Status::name_of(raw);
    let class = match Status::from_wire(raw) {
        Status::Running => "ok",
        Status::Failed | Status::CrashLooping | Status::Lost => "bad",
        Status::Stopped | Status::Deleted => "off",
        _ => "busy",
    };
    html! { span class={"status " (class)} data-status=(name) { (name) } }
}

/// The endpoint users connect to: the public one when there is one. An
/// endpoint on this server names no host: it is the one the browser used.
pub fn endpoint(w: &v1::Workload, host: &str) -> String {
    w.endpoints
        .iter()
        .find(|e| e.via == "public")
        .or_else(|| w.endpoints.first())
        .map(|e| hostport(e, host))
        .unwrap_or_else(|| "no port".into())
}

fn hostport(e: &v1::Endpoint, host: &str) -> String {
    let h = if e.host.is_empty() { host } else { &e.host };
    format!("{h}:{}", e.port)
}

/// "2m", "1h", "3d".
pub fn age(created_ms: i64, now_ms: i64) -> String {
    let s = (now_ms - created_ms).max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn actions(w: &v1::Workload, csrf: &str) -> Markup {
    let running = matches!(
        Status::from_wire(w.status),
        Status::Running | Status::Starting | Status::CrashLooping | Status::Pulling
    );
    html! {
        div.actions {
            @if running {
                (action(&w.name, "stop", "Stop", csrf))
                (action(&w.name, "restart", "Restart", csrf))
            } @else {
                (action(&w.name, "start", "Start", csrf))
            }
            a.button.danger href={"/w/" (w.name) "/delete"} { "Delete" }
        }
    }
}

fn action(name: &str, what: &str, label: &str, csrf: &str) -> Markup {
    html! {
        form.inline method="post" action={"/w/" (name) "/" (what)} {
            (csrf_field(csrf))
            button type="submit" aria-label={(label) " " (name)} { (label) }
        }
    }
}

/// One dashboard row (also what the live updates rebuild).
fn row(w: &v1::Workload, csrf: &str, host: &str, now: i64) -> Markup {
    let created = w.created_at.as_ref().map_or(now, |t| t.unix_millis);
    html! {
        tr data-name=(w.name) {
            td { a href={"/w/" (w.name)} { (w.name) } }
            td { (w.kind) }
            td.status-cell { (status_badge(w.status)) }
            td.node { (w.node) }
            td.endpoint { code { (endpoint(w, host)) } }
            td { (age(created, now)) }
            td { (actions(w, csrf)) }
        }
    }
}

/// Whether the cloud has a machine yet, and whether the viewer can add one:
/// with none, the dashboard shows how to add the first.
pub struct FirstRun {
    /// Nodes that joined.
    pub nodes: usize,
    /// The viewer is an admin.
    pub admin: bool,
}

/// The dashboard: every workload of the viewer, updated live.
pub fn dashboard(v: &Viewer, ws: &[v1::Workload], now: i64, first: &FirstRun) -> Markup {
    let body = html! {
        @if first.nodes == 0 {
            (super::admin::add_node(v, first.admin, None, 0))
        }
        div.bar {
            h1 { "Workloads" }
            p #live.live role="status" aria-live="polite" { "Connecting…" }
        }
        @if ws.is_empty() {
            section.card.empty {
                h2 { "Nothing deployed yet" }
                p { "Lattice runs Postgres databases, S3 object storage and your own containers on the machines your team lends, each reachable from any computer through the control plane." }
                a.button.primary href="/deploy?kind=postgres" { "Deploy your first database" }
            }
        }
        table #workloads.workloads hidden[ws.is_empty()] data-csrf=(v.csrf) {
            thead { tr { th { "Name" } th { "Kind" } th { "Status" } th { "Node" } th { "Endpoint" } th { "Age" } th { span.sr { "Actions" } } } }
            tbody {
                @for w in ws { (row(w, v.csrf, v.host, now)) }
            }
        }
    };
    layout("Workloads", Some(v), body)
}

/// One workload: status, events, resources, endpoints, access, logs.
pub fn detail(v: &Viewer, d: &v1::WorkloadDetail, access: Option<&v1::Access>) -> Markup {
    let Some(w) = &d.workload else {
        return super::not_found(Some(v), "That workload does not exist.");
    };
    let limits = w.limits.unwrap_or_default();
    let body = html! {
        div.bar {
            h1 { (w.name) " " small { (w.kind) } }
            div #wl-status data-name=(w.name) { (status_badge(w.status)) " " span.message { (w.status_message) } }
            p #live.live role="status" aria-live="polite" { "Connecting…" }
        }
        (actions(w, v.csrf))
        section.card {
            h2 { "Details" }
            dl {
                dt { "Image" } dd { code { (w.image) } }
                dt { "Node" } dd { (w.node) }
                dt { "CPU" } dd { (format!("{:.2}", f64::from(limits.cpu_millis) / 1000.0)) }
                dt { "Memory" } dd { (limits.memory_bytes >> 20) " MiB" }
                dt { "Restarts" } dd { (w.restart_count) }
            }
        }
        @if matches!(Status::from_wire(w.status), Status::Failed | Status::CrashLooping) && !d.last_log_lines.is_empty() {
            section.card #failure {
                h2 { "Why it failed" }
                p.error { (w.status_message) }
                pre.logs { @for l in &d.last_log_lines { (l) "\n" } }
            }
        }
        (access_card(v, w, access))
        section.card {
            h2 { "Events" }
            ol.events {
                @for e in &d.events {
                    li { (status_badge(e.status)) " " (e.message) }
                }
            }
        }
        section.card {
            div.bar {
                h2 { "Logs" }
                div {
                    button #logs-pause type="button" aria-pressed="false" { "Pause" }
                    button #logs-latest type="button" { "Jump to latest" }
                }
            }
            pre #logs.logs data-name=(w.name) tabindex="0" aria-label="Log output" {}
        }
    };
    layout(&w.name, Some(v), body)
}

fn access_card(v: &Viewer, w: &v1::Workload, access: Option<&v1::Access>) -> Markup {
    html! {
        section.card #access {
            h2 { "Access" }
            dl {
                @for e in &w.endpoints {
                    dt { (e.via) " endpoint" }
                    dd { code { (hostport(e, v.host)) } " " (copy(&hostport(e, v.host))) }
                }
            }
            @match access {
                Some(a) => {
                    dl {
                        @for c in &a.credentials {
                            dt { (c.key) }
                            dd { code.secret { (c.value) } " " (copy(&c.value)) }
                        }
                    }
                    @if let Some(line) = connect_line(a, v.host) {
                        p { "Connect from any computer that reaches this server:" }
                        pre { code { (line) } } (copy(&line))
                    }
                    @if !a.credentials.is_empty() {
                        p { a.button href={"/w/" (w.name) "/rotate"} { "Rotate credentials" } }
                    }
                }
                None => {
                    p { "Credentials are hidden." }
                    form.inline method="post" action={"/w/" (w.name) "/reveal"} {
                        (csrf_field(v.csrf))
                        button type="submit" { "Reveal credentials" }
                    }
                }
            }
        }
    }
}

fn copy(value: &str) -> Markup {
    html! { button.copy type="button" data-copy=(value) { "Copy" } }
}

/// A ready-to-paste client command for a workload's access.
fn connect_line(a: &v1::Access, host: &str) -> Option<String> {
    let e = a
        .endpoints
        .iter()
        .find(|e| e.via == "public")
        .or_else(|| a.endpoints.first())?;
    let get = |k: &str| {
        a.credentials
            .iter()
            .find(|c| c.key.eq_ignore_ascii_case(k))
            .map(|c| c.value.clone())
    };
    let at = hostport(e, host);
    match a.kind.as_str() {
        "postgres" => Some(format!(
            "psql \"postgresql://{}:{}@{at}/{}\"",
            get("user")?,
            get("password")?,
            get("database")?
        )),
        "s3" => Some(format!(
            "AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} aws --endpoint-url http://{at} s3 ls",
            get("access_key")?,
            get("secret_key")?,
        )),
        _ => Some(format!("curl http://{at}/")),
    }
}

/// What the deploy form shows again after a refusal.
#[derive(Default)]
pub struct DeployForm {
    /// postgres, s3 or custom.
    pub kind: String,
    /// Fields as typed.
    pub name: String,
    /// Image (custom).
    pub image: String,
    /// Port (custom).
    pub port: String,
    /// CPUs.
    pub cpu: String,
    /// Memory.
    pub memory: String,
    /// KEY=VALUE lines.
    pub env: String,
    /// One argument per line.
    pub command: String,
    /// Errors by field name ("" = the whole form).
    pub errors: Vec<(String, String)>,
}

impl DeployForm {
    fn error(&self, f: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| k == f)
            .map(|(_, v)| v.as_str())
    }
}

/// The deploy form.
pub fn deploy(v: &Viewer, f: &DeployForm) -> Markup {
    let kinds = [
        ("postgres", "Postgres"),
        ("s3", "S3 object storage"),
        ("custom", "Custom image"),
    ];
    let body = html! {
        section.card {
            h1 { "Deploy" }
            @if let Some(e) = f.error("") { p.error.banner role="alert" { (e) } }
            form method="post" action="/deploy" novalidate {
                (csrf_field(v.csrf))
                fieldset {
                    legend { "Kind" }
                    @for (k, label) in kinds {
                        label.choice {
                            input type="radio" name="kind" value=(k) checked[f.kind == k];
                            " " (label)
                        }
                    }
                }
                (field("Name (lowercase letters, digits and -)", "name", "text", &f.name, f.error("name")))
                div.custom {
                    (field("Image (custom)", "image", "text", &f.image, f.error("image")))
                    (field("Ports (custom, optional; e.g. 80 or 80, 443)", "port", "text", &f.port, f.error("port")))
                }
                (field("CPUs (optional, e.g. 0.5)", "cpu", "text", &f.cpu, f.error("cpu")))
                (field("Memory (optional, e.g. 256Mi)", "memory", "text", &f.memory, f.error("memory")))
                div.field {
                    label for="f-env" { "Environment (KEY=value, one per line)" }
                    textarea id="f-env" name="env" rows="3" { (f.env) }
                    @if let Some(e) = f.error("env") { p.error role="alert" { (e) } }
                }
                div.field {
                    label for="f-command" { "Command (custom, one argument per line)" }
                    textarea id="f-command" name="command" rows="3" { (f.command) }
                    @if let Some(e) = f.error("command") { p.error role="alert" { (e) } }
                }
                button.primary type="submit" { "Deploy" }
            }
        }
    };
    layout("Deploy", Some(v), body)
}

/// Asks before deleting.
pub fn confirm_delete(v: &Viewer, name: &str) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Delete " (name) "?" }
            p { "Its container stops and is removed. Its data volume is kept unless you also purge it." }
            form method="post" action={"/w/" (name) "/delete"} {
                (csrf_field(v.csrf))
                label.choice { input type="checkbox" name="purge" value="true"; " Also delete its data (cannot be undone)" }
                div.actions {
                    button.danger type="submit" autofocus { "Delete " (name) }
                    a.button href={"/w/" (name)} { "Cancel" }
                }
            }
        }
    };
    layout("Delete", Some(v), body)
}

/// Asks before rotating credentials.
pub fn confirm_rotate(v: &Viewer, name: &str) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Rotate the credentials of " (name) "?" }
            p { "New credentials are applied inside the workload; the old ones stop working at once, so every client using them must be given the new ones." }
            form method="post" action={"/w/" (name) "/rotate"} {
                (csrf_field(v.csrf))
                div.actions {
                    button.danger type="submit" autofocus { "Rotate" }
                    a.button href={"/w/" (name)} { "Cancel" }
                }
            }
        }
    };
    layout("Rotate", Some(v), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_one_style() {
        assert_eq!(age(0, 5_000), "5s");
        assert_eq!(age(0, 120_000), "2m");
        assert_eq!(age(0, 7_200_000), "2h");
        assert_eq!(age(0, 3 * 86_400_000), "3d");
    }

    #[test]
    fn markup_is_escaped() {
        let w = v1::Workload {
            name: "<script>".into(),
            ..Default::default()
        };
        let html = row(&w, "t", "h", 0).into_string();
        assert!(
            !html.contains("<script>") && html.contains("&lt;script&gt;"),
            "{html}"
        );
    }
}
