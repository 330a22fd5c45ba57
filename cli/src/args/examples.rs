//! The "Examples" section of every command's `--help`.

macro_rules! examples {
    ($($name:ident: $($line:literal)+;)+) => {
        $(
            pub const $name: &str = concat!("Examples:\n", $("  ", $line, "\n",)+);
        )+
    };
}

examples! {
    REGISTER:
        "lattice --server https://lattice.example.net:7443 register --email ada@example.com"
        "echo \"$PW\" | lattice register --email ci@example.com --password-stdin";
    LOGIN:
        "lattice login --email ada@example.com"
        "echo \"$PASSWORD\" | lattice login --email ada@example.com --password-stdin";
    LOGOUT:
        "lattice logout";
    WHOAMI:
        "lattice whoami"
        "lattice whoami -o json";
    TRUST:
        "lattice trust"
        "lattice trust --replace   # the certificate was replaced on purpose";
    NODES:
        "lattice nodes"
        "lattice nodes join-token --expires 1h"
        "lattice nodes drain old-laptop       # before retiring it"
        "lattice nodes rm old-laptop --force"
        "lattice nodes rotate-secret vm1";
    DEPLOY:
        "lattice deploy postgres mydb --wait"
        "lattice deploy s3 media --memory 512Mi"
        "lattice deploy custom web --image nginx:1.27 --port 80 --env GREETING=hi --wait"
        "lattice deploy custom web --image nginx:1.28 --port 80 --wait  # update"
        "lattice deploy postgres mydb --reuse-volume --wait  # kept data"
        "lattice deploy custom ticker --image busybox -- sh -c 'date; sleep 9'";
    LS:
        "lattice ls"
        "lattice ls --watch"
        "lattice ls -q | xargs lattice stop";
    STATUS:
        "lattice status mydb"
        "lattice status mydb --watch"
        "lattice status mydb -o json";
    ACCESS:
        "lattice access mydb"
        "psql \"$(lattice access mydb --format url)\""
        "eval \"$(lattice access media --format env)\" && aws s3 ls"
        "lattice access mydb --rotate --yes";
    LOGS:
        "lattice logs mydb --tail 100"
        "lattice logs -f web --since 10m --timestamps"
        "lattice logs web --since 2026-12-02T18:00:00Z";
    STOP:
        "lattice stop web"
        "lattice stop web api worker --wait";
    START:
        "lattice start web --wait";
    RESTART:
        "lattice restart web api --wait";
    RM:
        "lattice rm web"
        "lattice rm mydb --purge --yes   # its data volume too"
        "lattice rm web api worker";
    ENV:
        "lattice env set web GREETING=hello LOG_LEVEL=debug --wait"
        "lattice env unset web LOG_LEVEL"
        "lattice env ls web"
        "lattice env ls web --show-values";
    HISTORY:
        "lattice history web"
        "lattice history web -o json";
    ROLLBACK:
        "lattice rollback web --wait      # to the version before the current one"
        "lattice rollback web 2 --wait    # to version 2";
    VOLUMES:
        "lattice volumes ls"
        "lattice volumes rm mydb --yes"
        "lattice volumes rm mydb --forget --yes  # its node is gone for good";
    CONNECT:
        "lattice connect mydb"
        "lattice connect mydb -- -c 'select count(*) from users'"
        "lattice connect media -- aws s3 ls";
    BACKUP:
        "lattice backup mydb                      # mydb-20261203-101500.lattice-backup"
        "lattice backup media media.backup"
        "lattice backup mydb - | gzip > mydb.backup.gz";
    RESTORE:
        "lattice restore mydb mydb-20261203-101500.lattice-backup"
        "lattice restore media-copy media.backup --wait   # into another S3 workload";
    EXEC:
        "lattice exec web -- ls -l /usr/share/nginx/html"
        "lattice exec -it web -- sh"
        "lattice exec -i mydb -- psql -U postgres < schema.sql"
        "lattice exec --timeout 30m mydb -- vacuumdb --all";
    OPEN:
        "lattice open web";
    TOKENS:
        "lattice tokens create ci --scope deploy --expires 30d"
        "lattice tokens ls"
        "lattice tokens revoke ci --yes";
    INVITES:
        "lattice invites create --expires 7d";
    USERS:
        "lattice users disable bob@example.com"
        "lattice users enable bob@example.com";
    SESSIONS:
        "lattice sessions ls"
        "lattice sessions revoke 0192f0c1-…";
    PASSWD:
        "lattice passwd";
    AUDIT:
        "lattice audit"
        "lattice audit --limit 200 -o json";
    DOCTOR:
        "lattice doctor"
        "lattice doctor -o json";
    CONSOLE:
        "lattice console";
    FEEDBACK:
        "lattice feedback send 'deploys are fast!'"
        "lattice feedback ls";
    CONTEXT:
        "lattice context ls"
        "lattice context use https://lattice.example.net:7443";
    COMPLETION:
        "lattice completion bash > /etc/bash_completion.d/lattice"
        "lattice completion zsh > ~/.zfunc/_lattice";
}
