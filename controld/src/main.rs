//! `lattice-controld` binary: parse flags, set up logging, dispatch.

use clap::Parser;
use lattice_controld::args::{AdminAction, Args, Command, MigrateAction};
use lattice_controld::{Config, Server, accounts::Accounts, store, telemetry};
use lattice_migrations::MigratorTrait;

mod allocator;

fn main() -> std::process::ExitCode {
    allocator::setup();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_main()),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_main() -> std::process::ExitCode {
    let args = Args::parse();
    telemetry::init(args.common.log_format);
    let serving = matches!(args.command, None | Some(Command::Serve(_)));
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A server's failure belongs in its (possibly JSON) log; a
            // maintenance command's goes to the person who typed it.
            if serving {
                tracing::error!("{e:#}");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every relayed connection is a socket: use the hard limit, not the
    // (often 1024) soft one.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let url = store::database_url(args.common.database_url.as_deref(), &args.common.data_dir);
    match args.command {
        None => serve(args.common, url, args.serve).await,
        Some(Command::Serve(s)) => serve(args.common, url, *s).await,
        Some(Command::Migrate { action }) => {
            let db = store::connect(&url).await?;
            match action {
                MigrateAction::Status => {
                    let applied = store::applied_migrations(&db).await?;
                    for name in lattice_migrations::Migrator::migrations()
                        .iter()
                        .map(|m| m.name().to_string())
                    {
                        let state = if applied.contains(&name) {
                            "applied"
                        } else {
                            "pending"
                        };
                        println!("{state:8} {name}");
                    }
                    for unknown in store::unknown_applied_migrations(&db).await? {
                        println!("{:8} {unknown}  (newer than this binary)", "unknown");
                    }
                    Ok(())
                }
                MigrateAction::Up => {
                    store::migrate(&db).await?;
                    println!("database is up to date");
                    Ok(())
                }
            }
        }
        Some(Command::JoinToken { expires }) => {
            let db = store::connect(&url).await?;
            store::ensure_not_newer(&db).await?;
            let fp = std::fs::read_to_string(args.common.data_dir.join("ca-fingerprint")).map_err(|e| {
                anyhow::anyhow!("could not read the CA fingerprint in {} ({e}); start lattice-controld once first", args.common.data_dir.display())
            })?;
            let repo = lattice_controld::repo::Repo::new(db);
            let ttl = i64::try_from(expires.as_secs()).unwrap_or(i64::MAX);
            let (token, _) = lattice_controld::fleet::node_service::create_join_token(
                &repo,
                fp.trim(),
                "server-host",
                ttl,
            )
            .await?;
            println!("{token}");
            Ok(())
        }
        Some(Command::Backup { file }) => {
            let m = lattice_controld::backup::take(&args.common.data_dir, &url, &file).await?;
            let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
            println!(
                "wrote {} ({} files, {bytes} bytes before compression; it holds the keys: keep it private)",
                file.display(),
                m.files.len()
            );
            if m.database == "postgres" {
                println!(
                    "the state is in Postgres and not in this file: dump it with\n  \
                     pg_dump --format=custom --file=lattice-state.dump \"$LATTICE_DATABASE_URL\"\n\
                     and keep both together (the keys open the credentials sealed in the dump)"
                );
            }
            Ok(())
        }
        Some(Command::Restore { file }) => {
            let m = lattice_controld::backup::restore(&file, &args.common.data_dir)?;
            println!(
                "restored {} files into {} (backup of {}, controld {})",
                m.files.len(),
                args.common.data_dir.display(),
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(
                            u64::try_from(m.created_unix_ms).unwrap_or(0)
                        )
                ),
                m.controld_version
            );
            if m.database == "postgres" {
                println!(
                    "the state was in Postgres: restore it with\n  \
                     pg_restore --clean --if-exists --dbname \"$LATTICE_DATABASE_URL\" lattice-state.dump\n\
                     then start lattice-controld --data-dir {} --database-url \"$LATTICE_DATABASE_URL\"",
                    args.common.data_dir.display()
                );
            } else {
                println!(
                    "start it with: lattice-controld --data-dir {} (on the old address, agents reconnect by themselves)",
                    args.common.data_dir.display()
                );
            }
            Ok(())
        }
        Some(Command::Admin { action }) => match action {
            AdminAction::Grant { email } => {
                let email = lattice_proto::validate::email(&email)?;
                let db = store::connect(&url).await?;
                store::ensure_not_newer(&db).await?;
                if Accounts::new(db).grant_admin(&email).await? {
                    println!("{email} is now an admin");
                    Ok(())
                } else {
                    anyhow::bail!(
                        "no account with email {email}; they must `lattice register` first"
                    )
                }
            }
        },
    }
}

async fn serve(
    common: lattice_controld::args::CommonArgs,
    database_url: String,
    serve: lattice_controld::ServeArgs,
) -> anyhow::Result<()> {
    // Handlers first: once bind writes the address file the world may send
    // SIGTERM, and it must shut down cleanly rather than kill the process.
    let shutdown = lattice_proto::daemon::shutdown_signal();
    let server = Server::bind(Config {
        data_dir: common.data_dir,
        database_url,
        serve,
    })
    .await?;
    // The same facts are in the log; this line is for the person at the
    // terminal, and would break a JSON log stream.
    if common.log_format == lattice_controld::args::LogFormat::Text {
        eprintln!(
            "lattice-controld listening on {} — certificate fingerprint {}",
            server.local_addr(),
            server.fingerprint()
        );
        eprintln!("console  https://{}/", server.local_addr());
    }
    server.run(shutdown).await
}
