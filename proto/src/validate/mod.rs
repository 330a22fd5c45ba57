//! Validation rules shared by every program. Each rule returns a
//! [`ValidationError`] whose message names the field and the rule, so the
//! CLI can refuse before sending and controld/agentd can refuse with the same
//! words as INVALID_ARGUMENT.

use std::fmt;

mod workload;

pub use workload::*;

/// A value broke a rule. `Display` is a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct ValidationError {
    /// The field (flag or request field) that is wrong.
    pub field: &'static str,
    /// What the field must be, phrased to follow the field name.
    pub rule: String,
}

impl ValidationError {
    /// `field` must be `rule` (a phrase that follows the field's name).
    pub fn new(field: &'static str, rule: impl fmt::Display) -> Self {
        Self {
            field,
            rule: rule.to_string(),
        }
    }
}

impl From<ValidationError> for tonic::Status {
    fn from(e: ValidationError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

/// Longest email address accepted (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Shortest password accepted, in characters.
pub const PASSWORD_MIN: usize = 12;
/// Longest password accepted, in characters.
pub const PASSWORD_MAX: usize = 256;

/// Checks an email address and returns its normalised (trimmed, lower-case)
/// form, which is what accounts are keyed by.
pub fn email(raw: &str) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new("email", "is required"));
    }
    if trimmed.len() > EMAIL_MAX {
        return Err(ValidationError::new(
            "email",
            format!("must be at most {EMAIL_MAX} characters"),
        ));
    }
    let normalised = trimmed.to_lowercase();
    let parsed = email_address::EmailAddress::parse_with_options(
        &normalised,
        email_address::Options::default()
            .without_display_text()
            .without_domain_literal(),
    );
    match parsed {
        Ok(_) if normalised.contains('@') && !normalised.ends_with('@') => Ok(normalised),
        _ => Err(ValidationError::new(
            "email",
            "must be an address like ada@example.com",
        )),
    }
}

/// Checks the password policy: 12 to 256 characters. Never echoes the value.
pub fn password(raw: &str) -> Result<(), ValidationError> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {PASSWORD_MIN} characters (got {n})"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// Checks a password presented at login: only its length bound, so that an
/// account created under an older policy can still log in, and a 10 MB value
/// is refused before it is hashed.
pub fn login_password(raw: &str) -> Result<(), ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new("password", "is required"));
    }
    if raw.chars().count() > PASSWORD_MAX {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// Checks a name of a workload, node or API token: a DNS label.
pub fn name(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    let ok = (1..=63).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be 1-63 chars of a-z, 0-9, - (not starting or ending with -)",
        ))
    }
}

/// Checks an opaque token field (refresh token, API token) for size only.
pub fn token(field: &'static str, raw: &str) -> Result<(), ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if raw.len() > 4096 {
        return Err(ValidationError::new(field, "must be at most 4096 bytes"));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
    }

    #[test]
    fn bad_emails_are_refused_with_field_name() {
        for bad in ["", "ada", "ada@", "@example.com", "a b@example.com"] {
            let e = email(bad).unwrap_err();
            assert_eq!(e.field, "email", "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert!(
            email(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 254")
        );
    }

    #[test]
    fn password_policy() {
        assert!(
            password("short")
                .unwrap_err()
                .to_string()
                .contains("at least 12")
        );
        assert!(password(&"x".repeat(257)).is_err());
        assert!(password("correct horse battery").is_ok());
        // counted in characters, not bytes
        assert!(password("ééééééééééé").is_err());
        assert!(password("éééééééééééé").is_ok());
    }

    #[test]
    fn images() {
        for good in [
            "nginx",
            "nginx:1.27",
            "postgres:16",
            "lattice-local/web:latest",
            "registry.example.com:5000/team/app:1.2",
            "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "a b",
            "nginx:-x",
            "x@sha256:zz",
            ":tag",
        ] {
            assert!(image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_and_memory() {
        assert_eq!(parse_cpu("0.5").unwrap(), 500);
        assert_eq!(parse_cpu("500m").unwrap(), 500);
        assert_eq!(parse_cpu("2").unwrap(), 2000);
        assert!(parse_cpu("0.01").is_err());
        assert!(parse_cpu("65").is_err());
        assert!(
            parse_cpu("lots")
                .unwrap_err()
                .to_string()
                .starts_with("cpu must be")
        );
        assert_eq!(parse_memory("256Mi").unwrap(), 256 << 20);
        assert_eq!(parse_memory("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_memory("512M").unwrap(), 512_000_000);
        assert!(parse_memory("1Mi").is_err());
        assert!(parse_memory("300Gi").is_err());
        assert!(parse_memory("12Q").is_err());
        assert_eq!(parse_size("3Mi"), Some(3 << 20));
        assert_eq!(parse_size("512Ki"), Some(512 << 10));
        assert_eq!(parse_size("1.5K"), Some(1500));
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("1e99Gi"), None);
        assert!(resources(0, 0).is_ok());
        assert!(resources(10, 0).is_err());
    }

    #[test]
    fn env_rules() {
        assert_eq!(
            parse_env_pair("GREETING=hi=there").unwrap(),
            ("GREETING".into(), "hi=there".into())
        );
        assert!(parse_env_pair("1A=x").is_err());
        assert!(parse_env_pair("noequals").is_err());
        let many: Vec<(String, String)> = (0..51)
            .map(|i| (format!("K{i}"), "v".to_string()))
            .collect();
        assert!(
            env(many.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap_err()
                .to_string()
                .contains("at most 50")
        );
        let big = "x".repeat(33 * 1024);
        assert!(env([("K", big.as_str())]).is_err());
        assert!(port(0).is_err() && port(70000).is_err() && port(80).is_ok());
        assert!(
            volume_path("/data").is_ok()
                && volume_path("data").is_err()
                && volume_path("/").is_err()
        );
    }

    #[test]
    fn names_are_dns_labels() {
        for good in ["a", "mydb", "web-1", &"a".repeat(63)] {
            assert!(name("name", good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(name("name", bad).is_err(), "{bad}");
        }
    }
}
