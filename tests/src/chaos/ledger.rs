//! A Postgres workload that counts: every churn step inserts a numbered row
//! with the real `psql` through the workload's public endpoint (the edge, so
//! a dead controld or agent fails the insert); the numbers whose insert
//! `psql` acknowledged must all be there at every check.

use std::collections::BTreeSet;
use std::process::Command;

use crate::Cli;

/// The Postgres workload and what was acknowledged.
pub struct Ledger {
    host: String,
    port: String,
    user: String,
    db: String,
    password: String,
    next: u64,
    /// Numbers whose insert was acknowledged.
    pub acked: BTreeSet<u64>,
}

impl Ledger {
    /// Deploys `name` (waiting for it) and creates its table.
    #[track_caller]
    pub fn deploy(cli: &Cli, name: &str) -> Self {
        cli.run(&["deploy", "postgres", name, "--wait", "-o", "json"], None)
            .ok();
        let a = cli.run(&["access", name, "-o", "json"], None).ok().json();
        let public = a["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["via"] == "public"))
            .cloned()
            .expect("a public endpoint");
        let cred = |k: &str| a["credentials"][k].as_str().unwrap_or_default().to_string();
        let host = public["host"].as_str().unwrap_or("127.0.0.1");
        let l = Self {
            host: if host.is_empty() { "127.0.0.1" } else { host }.to_string(),
            port: public["port"].to_string(),
            user: cred("user"),
            db: cred("database"),
            password: cred("password"),
            next: 0,
            acked: BTreeSet::new(),
        };
        let made = crate::wait_for(std::time::Duration::from_secs(30), || {
            l.psql("CREATE TABLE ledger (n bigint PRIMARY KEY)")
        });
        assert!(made.is_some(), "could not create the ledger table");
        l
    }

    fn psql(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args([
                "-h",
                &self.host,
                "-p",
                &self.port,
                "-U",
                &self.user,
                "-d",
                &self.db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "3")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Inserts the next number; remembers it when acknowledged.
    pub fn insert(&mut self) {
        self.next += 1;
        if self
            .psql(&format!("INSERT INTO ledger VALUES ({})", self.next))
            .is_some()
        {
            self.acked.insert(self.next);
        }
    }

    /// (acknowledged, found) or what is wrong: a lost acknowledged row, a
    /// row never inserted, or the workload not answering.
    pub fn check(&self) -> Result<(usize, usize), String> {
        let mut found = None;
        for _ in 0..30 {
            found = self.psql("SELECT n FROM ledger");
            if found.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let found: BTreeSet<u64> = found
            .ok_or("the Postgres workload does not answer through the edge")?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let lost: Vec<_> = self.acked.difference(&found).collect();
        if !lost.is_empty() {
            return Err(format!(
                "{} acknowledged rows are missing (first: {:?})",
                lost.len(),
                &lost[..lost.len().min(5)]
            ));
        }
        if let Some(bogus) = found.iter().find(|n| **n > self.next) {
            return Err(format!("row {bogus} was never inserted"));
        }
        Ok((self.acked.len(), found.len()))
    }
}
