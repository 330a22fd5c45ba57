//! Rules for what a workload may ask for: image, resources, ports, env,
//! command, volume, stop timeout.

use super::{ValidationError, truncate};

/// Smallest CPU limit, in millicores (0.05 CPU).
pub const CPU_MIN_MILLIS: u32 = 50;
/// Largest CPU limit, in millicores (64 CPUs).
pub const CPU_MAX_MILLIS: u32 = 64_000;
/// Smallest memory limit (16Mi).
pub const MEMORY_MIN: u64 = 16 << 20;
/// Largest memory limit (256Gi).
pub const MEMORY_MAX: u64 = 256 << 30;
/// Most environment variables per workload.
pub const ENV_MAX_COUNT: usize = 50;
/// Most bytes of environment (keys + values) per workload.
pub const ENV_MAX_BYTES: usize = 32 * 1024;

/// Parses a workload kind as a user types it (`postgresql` and `minio` are
/// aliases).
pub fn kind(raw: &str) -> Result<crate::state::Kind, ValidationError> {
    crate::state::Kind::parse_alias(raw).ok_or_else(|| {
        ValidationError::new(
            "kind",
            format!(
                "must be postgres, s3 (alias minio) or custom, got {:?}",
                truncate(raw)
            ),
        )
    })
}

/// Checks what a kind needs of a deploy: a custom workload names its image.
pub fn kind_needs(kind: crate::state::Kind, image: &str) -> Result<(), ValidationError> {
    if kind == crate::state::Kind::Custom && image.is_empty() {
        return Err(ValidationError::new(
            "image",
            "is required for custom workloads (--image nginx:1.27)",
        ));
    }
    Ok(())
}

/// Checks a container image reference (`[registry/]repo[:tag][@digest]`).
pub fn image(raw: &str) -> Result<(), ValidationError> {
    let rule = "must be an image reference like postgres:16 or registry.example.com/team/app:1.2";
    if raw.is_empty() || raw.len() > 512 {
        return Err(ValidationError::new("image", rule));
    }
    let (name, digest) = match raw.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (raw, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(ValidationError::new("image", rule));
        }
    }
    // A tag is what follows the last ':' after the last '/'.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let ok = (1..=128).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(ValidationError::new("image", rule));
        }
    }
    let ok = !repo.is_empty()
        && repo.split('/').enumerate().all(|(i, part)| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"._-".contains(&b)
                        // the registry host may carry a port and capitals
                        || (i == 0 && repo.contains('/') && (b == b':' || b.is_ascii_uppercase()))
                })
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("image", rule))
    }
}

/// Parses a CPU amount: `0.5`, `2`, or `500m`; returns millicores.
pub fn parse_cpu(raw: &str) -> Result<u32, ValidationError> {
    let rule = format!("must be a number of CPUs from 0.05 to 64 (e.g. 0.5 or 500m), got {raw:?}");
    let t = raw.trim();
    let millis = if let Some(m) = t.strip_suffix('m') {
        m.parse::<f64>()
            .map_err(|_| ValidationError::new("cpu", &rule))?
    } else {
        t.parse::<f64>()
            .map_err(|_| ValidationError::new("cpu", &rule))?
            * 1000.0
    };
    if !millis.is_finite() || millis.fract() > 1e-6 && millis < 1.0 {
        return Err(ValidationError::new("cpu", &rule));
    }
    let millis = millis.round();
    if !(f64::from(CPU_MIN_MILLIS)..=f64::from(CPU_MAX_MILLIS)).contains(&millis) {
        return Err(ValidationError::new("cpu", rule));
    }
    Ok(millis as u32)
}

/// Parses a memory amount: `256Mi`, `1Gi`, `512M`, `1G`, `1048576`.
pub fn parse_memory(raw: &str) -> Result<u64, ValidationError> {
    let rule = format!("must be an amount from 16Mi to 256Gi (e.g. 256Mi or 2Gi), got {raw:?}");
    match parse_size(raw) {
        Some(b) if (MEMORY_MIN..=MEMORY_MAX).contains(&b) => Ok(b),
        _ => Err(ValidationError::new("memory", rule)),
    }
}

/// Parses an amount of bytes with an optional binary (`Ki`, `Mi`, `Gi`) or
/// decimal (`K`, `M`, `G`) unit; None when it is not one or overflows.
pub fn parse_size(raw: &str) -> Option<u64> {
    let t = raw.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return None,
    };
    let bytes = (n * mult).round();
    (bytes.is_finite() && bytes >= 0.0 && bytes <= u64::MAX as f64).then_some(bytes as u64)
}

/// Checks resources already in wire form (0 = unlimited).
pub fn resources(cpu_millis: u32, memory_bytes: u64) -> Result<(), ValidationError> {
    if cpu_millis != 0 && !(CPU_MIN_MILLIS..=CPU_MAX_MILLIS).contains(&cpu_millis) {
        return Err(ValidationError::new("cpu", "must be from 0.05 to 64 CPUs"));
    }
    if memory_bytes != 0 && !(MEMORY_MIN..=MEMORY_MAX).contains(&memory_bytes) {
        return Err(ValidationError::new("memory", "must be from 16Mi to 256Gi"));
    }
    Ok(())
}

/// Longest grace period between a stop signal and a kill, in seconds (the
/// agent's Docker calls must finish well within their own deadline).
pub const STOP_TIMEOUT_MAX_SECS: u32 = 100;

/// Checks a stop timeout in seconds (0 = the default, 10 s).
pub fn stop_timeout(secs: u32) -> Result<(), ValidationError> {
    if secs <= STOP_TIMEOUT_MAX_SECS {
        Ok(())
    } else {
        Err(ValidationError::new(
            "stop-timeout",
            format!("must be at most {STOP_TIMEOUT_MAX_SECS}s, got {secs}s"),
        ))
    }
}

/// Checks a port number.
pub fn port(p: u32) -> Result<u16, ValidationError> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ValidationError::new("port", format!("must be from 1 to 65535, got {p}")))
}

/// Checks environment variables: keys like `GREETING` (letters, digits, `_`,
/// not starting with a digit), at most 50 of them, 32 KiB in all.
pub fn env<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), ValidationError> {
    let mut count = 0;
    let mut bytes = 0;
    for (k, v) in vars {
        count += 1;
        bytes += k.len() + v.len();
        let ok = !k.is_empty()
            && k.len() <= 256
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !k.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(ValidationError::new(
                "env",
                format!(
                    "key {:?} must be letters, digits and _, not starting with a digit",
                    truncate(k)
                ),
            ));
        }
        if v.contains('\0') {
            return Err(ValidationError::new(
                "env",
                format!("value of {k} must not contain NUL"),
            ));
        }
    }
    if count > ENV_MAX_COUNT {
        return Err(ValidationError::new(
            "env",
            format!("must have at most {ENV_MAX_COUNT} variables, got {count}"),
        ));
    }
    if bytes > ENV_MAX_BYTES {
        return Err(ValidationError::new("env", "must be at most 32 KiB in all"));
    }
    Ok(())
}

/// Parses `KEY=value`.
pub fn parse_env_pair(raw: &str) -> Result<(String, String), ValidationError> {
    let (k, v) = raw.split_once('=').ok_or_else(|| {
        ValidationError::new("env", format!("{:?} must be KEY=value", truncate(raw)))
    })?;
    env([(k, v)])?;
    Ok((k.to_string(), v.to_string()))
}

/// Checks a container command: at most 64 arguments, 32 KiB.
pub fn command(args: &[String]) -> Result<(), ValidationError> {
    if args.len() > 64 || args.iter().map(String::len).sum::<usize>() > ENV_MAX_BYTES {
        return Err(ValidationError::new(
            "command",
            "must be at most 64 arguments and 32 KiB",
        ));
    }
    Ok(())
}

/// Checks an absolute container path for a volume.
pub fn volume_path(raw: &str) -> Result<(), ValidationError> {
    if raw.starts_with('/')
        && raw.len() <= 1024
        && raw != "/"
        && !raw.contains("..")
        && !raw.contains(':')
    {
        Ok(())
    } else {
        Err(ValidationError::new(
            "volume",
            "must be an absolute path inside the container, like /data",
        ))
    }
}
