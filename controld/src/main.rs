//! `lattice-controld` binary: parse flags, set up logging, dispatch.

use clap::Parser;
use lattice_controld::args::{AdminAction, Args, Command, MigrateAction};
use lattice_controld::{Config, Server, accounts::Accounts, store, telemetry};
use lattice_migrations::MigratorTrait;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fixed_mmap_threshold();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            rt.spawn(lattice_controld::memory::trim_forever(trim_heap));
            rt.block_on(run_main())
        }
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A login hashes its password with Argon2 in 19 MiB of memory. glibc's
/// malloc serves a block that large with mmap, but on freeing it raises its
/// mmap threshold above that size, so every later hash came from the heap —
/// and stayed there: 19 MiB resident for good after one login (measured:
/// one 19 MiB mapping of controld's 46 MiB at rest). A fixed threshold (the
/// default 128 KiB, set explicitly, which turns glibc's raising off) hands
/// such blocks back at once.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning; it is called before any
    // other thread exists, with a documented parameter and a valid value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hands glibc's free heap pages back to the kernel (see
/// `lattice_controld::memory`); other allocators do their own.
fn trim_heap() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(feature = "jemalloc"),
        not(feature = "mimalloc")
    ))]
    // SAFETY: malloc_trim only returns free pages of malloc's own arenas to
    // the kernel; it takes their locks and touches no live block.
    unsafe {
        libc::malloc_trim(0);
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
