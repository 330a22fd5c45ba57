//! Environment variable names, in one place.

/// Control plane address.
pub const SERVER: &str = "LATTICE_SERVER";
/// CA certificate to trust.
pub const CA_CERT: &str = "LATTICE_CA_CERT";
/// Expected certificate fingerprint.
pub const TRUST_FINGERPRINT: &str = "LATTICE_TRUST_FINGERPRINT";
/// Output format.
pub const OUTPUT: &str = "LATTICE_OUTPUT";
/// Account email.
pub const EMAIL: &str = "LATTICE_EMAIL";
/// Where config and the file token store live.
pub const CONFIG_DIR: &str = "LATTICE_CONFIG_DIR";
/// A bearer token (API token) that replaces signing in.
pub const TOKEN: &str = "LATTICE_TOKEN";
/// Force the token store: `keyring` or `file`.
pub const TOKEN_STORE: &str = "LATTICE_TOKEN_STORE";
