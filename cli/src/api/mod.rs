//! A connection to the control plane: resolves which server, makes sure its
//! certificate is trusted (pinning on first contact), and sends calls with
//! the session's access token, refreshing it transparently when it expires.

use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use lattice_proto::v1::{self, auth_service_client::AuthServiceClient};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

mod calls;

use crate::args::GlobalArgs;
use crate::config::{self, Config};
use crate::env;
use crate::error::{self, CliError};
use crate::server::ServerAddr;
use crate::token_store::{StoredSession, TokenStore};
use crate::trust::{self, Consent};

/// Refresh this long before the access token expires, to absorb clock skew.
const REFRESH_MARGIN_MS: i64 = 30_000;

/// Global flags plus persistent state.
pub struct Ctx {
    /// Global flags.
    pub global: GlobalArgs,
    /// Config directory.
    pub dir: PathBuf,
    /// Loaded config.
    pub config: Config,
}

impl Ctx {
    /// Loads the config for `global`.
    pub fn new(global: GlobalArgs) -> anyhow::Result<Self> {
        let dir = config::dir()?;
        let config = Config::load(&dir)?;
        Ok(Self {
            global,
            dir,
            config,
        })
    }

    /// The server to talk to: `--server`/`LATTICE_SERVER`, else the current one.
    pub fn server(&self) -> anyhow::Result<ServerAddr> {
        let raw = self.global.server.clone().or_else(|| self.config.current.clone()).ok_or_else(|| {
            CliError::Usage(format!(
                "no server chosen; pass --server https://HOST:{} (or set {}); it is remembered after you sign in",
                crate::server::DEFAULT_PORT,
                env::SERVER
            ))
        })?;
        ServerAddr::parse(&raw).map_err(|e| CliError::Usage(format!("{e:#}")).into())
    }
}

/// A trusted, connected server.
pub struct Api {
    /// Where.
    pub addr: ServerAddr,
    channel: Channel,
    store: TokenStore,
    dir: PathBuf,
    session: Option<StoredSession>,
    env_token: Option<String>,
}

impl Api {
    /// Connects to the chosen server, pinning its certificate on first contact.
    pub async fn connect(ctx: &mut Ctx) -> anyhow::Result<Self> {
        let addr = ctx.server()?;
        let (anchor_pem, pinned) = trusted_anchor(ctx, &addr).await?;
        let channel = open_channel(&addr, &anchor_pem, pinned.as_deref()).await?;
        let store = TokenStore::open(&ctx.dir)?;
        let env_token = std::env::var(env::TOKEN)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let session = if env_token.is_some() {
            None
        } else {
            store.load(&addr.url)?
        };
        Ok(Self {
            addr,
            channel,
            store,
            dir: ctx.dir.clone(),
            session,
            env_token,
        })
    }

    /// The host this client reached the server at: public endpoints without
    /// a host (controld has no `--public-host`) are reached there too.
    pub fn host(&self) -> &str {
        &self.addr.host
    }

    /// The raw channel, for unauthenticated calls.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The stored session, if signed in.
    pub fn session(&self) -> Option<&StoredSession> {
        self.session.as_ref()
    }

    /// Translates a status from this server.
    pub fn status(&self, s: &Status) -> anyhow::Error {
        error::from_status(s, &self.addr).into()
    }

    /// Keeps a new session.
    pub fn save_session(&mut self, s: &v1::Session) -> anyhow::Result<()> {
        let stored = StoredSession {
            access_token: s.access_token.clone(),
            access_expires_at: s.access_expires_at.as_ref().map_or(0, |t| t.unix_millis),
            refresh_token: s.refresh_token.clone(),
            refresh_expires_at: s.refresh_expires_at.as_ref().map_or(0, |t| t.unix_millis),
            email: s.email.clone(),
        };
        self.store.save(&self.addr.url, &stored)?;
        self.session = Some(stored);
        Ok(())
    }

    /// Forgets the local session.
    pub fn forget_session(&mut self) -> anyhow::Result<()> {
        self.session = None;
        self.store.delete(&self.addr.url)
    }

    /// Sends an authenticated call; on an expired access token, refreshes
    /// once and retries.
    pub(crate) async fn call<T, R, F, Fut>(&mut self, msg: T, f: F) -> anyhow::Result<R>
    where
        T: Clone,
        F: Fn(Channel, Request<T>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let token = self.access_token(false).await?;
        match f(self.channel.clone(), bearer(msg.clone(), &token)?).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == Code::Unauthenticated && self.session.is_some() => {
                let token = self.access_token(true).await?;
                f(self.channel.clone(), bearer(msg, &token)?)
                    .await
                    .map(Response::into_inner)
                    .map_err(|s| self.status(&s))
            }
            Err(s) => Err(self.status(&s)),
        }
    }

    /// A valid access token: the env token, the stored one, or a refreshed one.
    pub(crate) async fn access_token(&mut self, force_refresh: bool) -> anyhow::Result<String> {
        if let Some(t) = &self.env_token {
            return Ok(t.clone());
        }
        let Some(current) = self.session.clone() else {
            return Err(CliError::Auth(format!(
                "not signed in to {}; run `lattice login --server {}` (or set {} to an API token)",
                self.addr.url,
                self.addr.url,
                env::TOKEN
            ))
            .into());
        };
        let now = chrono::Utc::now().timestamp_millis();
        if !force_refresh && current.access_expires_at - now > REFRESH_MARGIN_MS {
            return Ok(current.access_token);
        }
        // Serialise refreshes across concurrent `lattice` processes: the
        // second one finds the token already rotated and uses the new one.
        config::ensure_dir(&self.dir)?;
        let lock = File::create(TokenStore::lock_path(&self.dir))
            .context("could not create the session lock file")?;
        lock.lock().context("could not lock the session")?;
        if let Some(latest) = self.store.load(&self.addr.url)?
            && latest.refresh_token != current.refresh_token
        {
            self.session = Some(latest.clone());
            return Ok(latest.access_token);
        }
        let res = AuthServiceClient::new(self.channel.clone())
            .refresh(v1::RefreshRequest {
                refresh_token: current.refresh_token.clone(),
            })
            .await;
        match res {
            Ok(r) => {
                let s = r.into_inner();
                self.save_session(&s)?;
                Ok(s.access_token)
            }
            Err(s) if s.code() == Code::Unauthenticated => {
                self.forget_session()?;
                Err(CliError::Auth(s.message().to_string()).into())
            }
            Err(s) => Err(self.status(&s)),
        }
    }
}

pub(crate) fn bearer<T>(msg: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut r = Request::new(msg);
    let v = format!("Bearer {token}").parse().map_err(|_| {
        CliError::Auth("the token contains characters that cannot be sent; sign in again".into())
    })?;
    r.metadata_mut().insert("authorization", v);
    Ok(r)
}

/// The trust anchor for `addr`: `--ca-cert`, the pinned certificate, or a
/// newly pinned one after consent. Also returns the pinned fingerprint.
async fn trusted_anchor(
    ctx: &mut Ctx,
    addr: &ServerAddr,
) -> anyhow::Result<(String, Option<String>)> {
    if let Some(path) = &ctx.global.ca_cert {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("could not read --ca-cert {}", path.display()))?;
        return Ok((pem, None));
    }
    if let Some(e) = ctx.config.servers.get(&addr.url) {
        return Ok((e.ca_pem.clone(), Some(e.fingerprint.clone())));
    }
    let presented = trust::fetch(addr).await?;
    trust::confirm(
        addr,
        &presented,
        &Consent {
            expected: ctx.global.trust_fingerprint.as_deref(),
            yes: ctx.global.yes,
        },
    )
    .map_err(|e| CliError::Auth(format!("{e:#}")))?;
    pin(ctx, addr, &presented)?;
    Ok((presented.pem, Some(presented.fingerprint)))
}

/// Records `p` as the pinned certificate of `addr`.
pub fn pin(ctx: &mut Ctx, addr: &ServerAddr, p: &trust::Presented) -> anyhow::Result<()> {
    let entry = ctx.config.servers.entry(addr.url.clone()).or_default();
    entry.fingerprint = p.fingerprint.clone();
    entry.ca_pem = p.pem.clone();
    ctx.config.save(&ctx.dir)
}

async fn open_channel(
    addr: &ServerAddr,
    anchor_pem: &str,
    pinned: Option<&str>,
) -> anyhow::Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(anchor_pem))
        .domain_name(addr.host.clone());
    let endpoint = Endpoint::from_shared(addr.url.clone())
        .with_context(|| format!("invalid server address {}", addr.url))?
        .tls_config(tls)
        .context("invalid TLS settings")?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let connect = || async { endpoint.connect().await };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_times(2)
        .with_jitter();
    match connect.retry(backoff).when(is_refused).await {
        Ok(c) => Ok(c),
        Err(e) if is_refused(&e) || is_io(&e) => Err(error::unreachable(addr, &root_cause(&e))),
        Err(e) => {
            // The TCP connection worked but TLS did not: find out whether the
            // certificate changed, so we can say so plainly.
            if let Some(pinned) = pinned
                && let Ok(now) = trust::fetch(addr).await
                && now.fingerprint != pinned
            {
                return Err(trust::changed(addr, pinned, &now.fingerprint));
            }
            Err(CliError::Auth(format!(
                "could not establish a trusted TLS connection to {}: {}. If the certificate is valid for another \
                 name, use that name in --server",
                addr.url,
                root_cause(&e)
            ))
            .into())
        }
    }
}

fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

fn is_refused(e: &tonic::transport::Error) -> bool {
    chain(e).any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            )
        })
    })
}

fn is_io(e: &tonic::transport::Error) -> bool {
    let text = root_cause(e);
    chain(e).any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.get_ref().is_none())
    }) || text.contains("timed out")
        || text.contains("dns error")
        || text.contains("No route to host")
}

fn root_cause(e: &tonic::transport::Error) -> String {
    chain(e)
        .last()
        .map(|c| c.to_string())
        .unwrap_or_else(|| e.to_string())
}
