//! TLS: libpq's `sslmode` and `sslrootcert` read from the connection
//! URL, carried out with rustls.
//!
//! rustls (with the `ring` provider) is already in the tree for `ureq`, so TLS adds no C build
//! (no OpenSSL, no `aws-lc-sys`); `tokio-postgres-rustls` plugs it into the `postgres` client and
//! supplies SCRAM channel binding. The meanings follow libpq so a URL copied from a managed
//! PostgreSQL console means what it says there:
//!
//! | `sslmode` | here |
//! |---|---|
//! | absent, `disable`, `allow`, `prefer` | no TLS. `allow`/`prefer` would be opportunistic TLS that an active attacker can strip, so we do not pretend: ask for `require` or better |
//! | `require` | TLS; the certificate is not checked (protects against eavesdropping only), unless `sslrootcert` is given, which makes it `verify-ca` (as in libpq) |
//! | `verify-ca` | TLS; the certificate must chain to a trusted root; the host name is not checked |
//! | `verify-full` | TLS; chain and host name (DNS name or IP address) checked. The mode to use |
//!
//! Trusted roots: `sslrootcert=<PEM file>` (your provider's CA bundle), or `sslrootcert=system`
//! or none for the Mozilla root store compiled in (`webpki-roots`), which managed services with
//! a public CA chain (Azure, Supabase, Neon…) pass; AWS RDS and Google Cloud SQL sign with their
//! own CAs, whose bundle goes in `sslrootcert`. libpq's default `~/.postgresql/root.crt` is not
//! read: the library reads no home directory, only what the URL names.
//! Client certificates (`sslcert`, `sslkey`) and CRLs are refused clearly, not ignored.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::{Host, SslMode as PgSslMode};
use postgres::{Client, Config, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::{PgError, error_chain};

/// Largest `sslrootcert` file read; CA bundles are tens of kilobytes.
const MAX_ROOT_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The `sslmode` value as libpq spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla root store compiled in (`webpki-roots`).
    Bundled,
    /// A PEM file of CA certificates (`sslrootcert=<path>`).
    File(PathBuf),
}

/// The TLS part of a connection string, and the rest for `postgres::Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode in effect (`require` with roots already turned into `verify-ca`).
    pub mode: SslMode,
    /// Roots to check the certificate against; `None` only for `disable` and a bare `require`.
    pub roots: Option<Roots>,
    /// The connection string without the keys handled here (the `postgres` crate rejects
    /// `verify-ca`, `verify-full` and `sslrootcert`).
    pub rest: String,
}

fn invalid(msg: impl Into<String>) -> PgError {
    PgError::Invalid(format!("PostgreSQL connection string: {}", msg.into()))
}

/// `%XX` escapes of a URL query value.
fn percent_decode(s: &str) -> Result<String, PgError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    invalid("a `%` escape in the URL is not followed by two hex digits")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("a URL parameter is not UTF-8 after decoding"))
}

impl TlsSettings {
    /// Reads `sslmode` and `sslrootcert` from a URL (`postgres://…?sslmode=verify-full`) or a
    /// `key=value` string (`host=… sslmode=verify-full`, unquoted values).
    pub fn parse(conn: &str) -> Result<Self, PgError> {
        let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
        let mut kept: Vec<&str> = Vec::new();
        let mut sslmode: Option<String> = None;
        let mut rootcert: Option<String> = None;
        let (base, params): (&str, Vec<&str>) = if is_url {
            match conn.split_once('?') {
                Some((b, q)) => (b, q.split('&').filter(|p| !p.is_empty()).collect()),
                None => (conn, Vec::new()),
            }
        } else {
            ("", conn.split_whitespace().collect())
        };
        for param in params {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let key = if is_url {
                percent_decode(key)?
            } else {
                key.to_string()
            };
            let value = || {
                if is_url {
                    percent_decode(value)
                } else {
                    Ok(value.to_string())
                }
            };
            match key.as_str() {
                "sslmode" => sslmode = Some(value()?),
                "sslrootcert" => rootcert = Some(value()?),
                "sslcert" | "sslkey" | "sslpassword" | "sslcertmode" => {
                    return Err(invalid(format!(
                        "`{key}`: client certificates are not supported yet; use password or \
                         token authentication over sslmode=verify-full"
                    )));
                }
                "sslcrl" | "sslcrldir" => {
                    return Err(invalid(format!(
                        "`{key}`: certificate revocation lists are not supported yet"
                    )));
                }
                _ => kept.push(param),
            }
        }
        let rest = if is_url {
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        } else {
            kept.join(" ")
        };
        let system = rootcert.as_deref() == Some("system");
        let mode = match (sslmode.as_deref(), system) {
            // libpq: `sslrootcert=system` alone means verify-full, and with anything weaker
            // is an error (a public CA vouches for names, not for "some server").
            (None, true) | (Some("verify-full"), true) => SslMode::VerifyFull,
            (Some(m), true) => {
                return Err(invalid(format!(
                    "sslrootcert=system needs sslmode=verify-full, not `{m}`"
                )));
            }
            (None | Some("disable" | "allow" | "prefer"), false) => SslMode::Disable,
            (Some("require"), false) if rootcert.is_some() => SslMode::VerifyCa,
            (Some("require"), false) => SslMode::Require,
            (Some("verify-ca"), false) => SslMode::VerifyCa,
            (Some("verify-full"), false) => SslMode::VerifyFull,
            (Some(other), false) => {
                return Err(invalid(format!(
                    "sslmode `{other}`: use disable, require, verify-ca or verify-full"
                )));
            }
        };
        if mode == SslMode::Disable && rootcert.is_some() {
            return Err(invalid(
                "sslrootcert is set but TLS is not requested: add sslmode=verify-full",
            ));
        }
        let roots = match (mode, rootcert) {
            (SslMode::Disable, _) | (SslMode::Require, None) => None,
            (_, Some(path)) if path != "system" => Some(Roots::File(PathBuf::from(path))),
            _ => Some(Roots::Bundled),
        };
        Ok(TlsSettings { mode, roots, rest })
    }

    fn roots_label(&self) -> String {
        match &self.roots {
            None => "none (certificate not checked)".into(),
            Some(Roots::Bundled) => "the bundled Mozilla roots".into(),
            Some(Roots::File(p)) => format!("sslrootcert {}", p.display()),
        }
    }
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, PgError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Bundled => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let shown = path.display();
            let size = std::fs::metadata(path)
                .map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?
                .len();
            if size > MAX_ROOT_FILE_BYTES {
                return Err(invalid(format!(
                    "sslrootcert {shown} is {size} bytes; a CA bundle is far smaller"
                )));
            }
            let pem =
                std::fs::read(path).map_err(|e| invalid(format!("sslrootcert {shown}: {e}")))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| invalid(format!("sslrootcert {shown}: bad PEM: {e}")))?;
                store.add(cert).map_err(|e| {
                    invalid(format!("sslrootcert {shown}: unusable certificate: {e}"))
                })?;
            }
            if store.is_empty() {
                return Err(invalid(format!(
                    "sslrootcert {shown} holds no PEM certificate"
                )));
            }
        }
    }
    Ok(store)
}

/// The rustls configuration for a TLS mode, on the `ring` provider that `ureq` already uses.
fn client_config(settings: &TlsSettings) -> Result<ClientConfig, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Connect(format!("TLS setup: {e}")))?;
    let config = match (&settings.roots, settings.mode) {
        (None, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        (Some(roots), mode) => {
            let store = Arc::new(load_roots(roots)?);
            if mode == SslMode::VerifyFull {
                builder.with_root_certificates(store).with_no_client_auth()
            } else {
                let webpki = WebPkiServerVerifier::builder_with_provider(store, provider)
                    .build()
                    .map_err(|e| PgError::Connect(format!("TLS setup: {e}")))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(config)
}

/// Connects with the TLS settings of `conn`. Errors name the server and the mode, never the
/// connection string (it may hold a password), and say what to change.
pub fn connect(conn: &str) -> Result<Client, PgError> {
    let settings = TlsSettings::parse(conn)?;
    let mut config: Config = settings
        .rest
        .parse()
        .map_err(|e: postgres::Error| invalid(error_chain(&e)))?;
    let target = describe(&config);
    let result = if settings.mode == SslMode::Disable {
        config.ssl_mode(PgSslMode::Disable);
        config.connect(NoTls)
    } else {
        config.ssl_mode(PgSslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(&settings)?);
        config.connect(tls)
    };
    result.map_err(|e| connect_error(&e, &settings, &target))
}

/// `host:port` of every host the config lists (for messages).
fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "PostgreSQL".into()
    } else {
        hosts.join(",")
    }
}

fn connect_error(e: &postgres::Error, settings: &TlsSettings, target: &str) -> PgError {
    let mode = settings.mode.as_str();
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error_chain(e),
    };
    let certificate = match rustls_error(e) {
        Some(rustls::Error::InvalidCertificate(c)) => Some(c),
        _ => None,
    };
    let hint = if detail.contains("server does not support TLS") {
        format!(
            "; the server does not accept TLS, and sslmode={mode} will not fall back to clear \
             text (use sslmode=disable only on a loopback or private network)"
        )
    } else if let Some(
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
    ) = certificate
    {
        "; the certificate does not name the host you connected to: connect by a name it \
         lists, or use sslmode=verify-ca if every certificate of this CA may serve this database"
            .to_string()
    } else if certificate.is_some() {
        format!(
            "; the server's certificate is not trusted (roots: {}): set sslrootcert to your \
             provider's CA bundle",
            settings.roots_label()
        )
    } else if settings.mode == SslMode::Disable
        && (detail.contains("no encryption") || detail.contains("SSL off"))
    {
        "; the server requires TLS: add sslmode=verify-full (and sslrootcert=<CA file>)".into()
    } else {
        String::new()
    };
    PgError::Connect(format!(
        "cannot connect to {target} (sslmode={mode}): {detail}{hint}"
    ))
}

/// The rustls error under a connection error: `tokio-postgres-rustls` wraps it in an
/// `io::Error`, whose `source()` skips the wrapped error itself, so look inside.
fn rustls_error(e: &postgres::Error) -> Option<&rustls::Error> {
    let mut current = std::error::Error::source(e);
    while let Some(err) = current {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        current = err.source();
    }
    None
}

/// `require` without roots (libpq's meaning): the channel is encrypted and the server proves it
/// holds the key of the certificate it sent, but nothing says whose key that is, so this stops
/// eavesdroppers, not an active man in the middle.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; a certificate for another name passes.
/// rustls' WebPKI verifier checks the chain (and expiry) before the name, so a name error can
/// only come from a certificate whose chain was accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TlsSettings, String> {
        TlsSettings::parse(s).map_err(|e| e.to_string())
    }

    #[test]
    fn modes_follow_libpq() {
        let base = "postgres://u:p@db.example:5432/kb";
        let cases = [
            ("", SslMode::Disable, None),
            ("?sslmode=disable", SslMode::Disable, None),
            ("?sslmode=prefer", SslMode::Disable, None),
            ("?sslmode=require", SslMode::Require, None),
            (
                "?sslmode=require&sslrootcert=/ca.pem",
                SslMode::VerifyCa,
                Some(Roots::File("/ca.pem".into())),
            ),
            (
                "?sslmode=verify-ca",
                SslMode::VerifyCa,
                Some(Roots::Bundled),
            ),
            (
                "?sslmode=verify-full",
                SslMode::VerifyFull,
                Some(Roots::Bundled),
            ),
            (
                "?sslrootcert=system",
                SslMode::VerifyFull,
                Some(Roots::Bundled),
            ),
        ];
        for (query, mode, roots) in cases {
            let s = parse(&format!("{base}{query}")).unwrap();
            assert_eq!((s.mode, s.roots), (mode, roots), "{query}");
            assert_eq!(s.rest, base, "{query}: TLS keys are removed");
        }
    }

    #[test]
    fn other_parameters_stay_and_values_are_decoded() {
        let s = parse(
            "postgresql://u@h/kb?connect_timeout=5&sslmode=verify-full&sslrootcert=%2Fetc%2Fmy%20ca.pem&application_name=tmc",
        )
        .unwrap();
        assert_eq!(
            s.rest,
            "postgresql://u@h/kb?connect_timeout=5&application_name=tmc"
        );
        assert_eq!(s.roots, Some(Roots::File("/etc/my ca.pem".into())));
        let kv = parse("host=h user=u sslmode=verify-ca sslrootcert=/ca.pem dbname=kb").unwrap();
        assert_eq!(kv.rest, "host=h user=u dbname=kb");
        assert_eq!(kv.mode, SslMode::VerifyCa);
    }

    #[test]
    fn what_we_cannot_honour_is_an_error() {
        for (conn, needle) in [
            (
                "postgres://h/kb?sslmode=verify-everything",
                "sslmode `verify-everything`",
            ),
            (
                "postgres://h/kb?sslmode=require&sslcert=/c.pem",
                "client certificates",
            ),
            (
                "postgres://h/kb?sslmode=require&sslkey=/k.pem",
                "client certificates",
            ),
            (
                "postgres://h/kb?sslmode=verify-full&sslcrl=/x.crl",
                "revocation",
            ),
            (
                "postgres://h/kb?sslmode=require&sslrootcert=system",
                "needs sslmode=verify-full",
            ),
            (
                "postgres://h/kb?sslrootcert=/ca.pem",
                "TLS is not requested",
            ),
            (
                "postgres://h/kb?sslmode=verify-full&sslrootcert=%zz",
                "hex digits",
            ),
        ] {
            let err = parse(conn).unwrap_err();
            assert!(err.contains(needle), "{conn}: {err}");
            assert!(!err.contains("postgres://"), "no URL in errors: {err}");
        }
    }

    #[test]
    fn root_files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, needle) in [
            (&missing, "missing.pem"),
            (&empty, "no PEM certificate"),
            (&garbage, "unusable certificate"),
        ] {
            let err = load_roots(&Roots::File(path.clone()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
        assert!(load_roots(&Roots::Bundled).unwrap().len() > 100);
    }

    #[test]
    fn connect_errors_hide_the_password() {
        let err = connect("postgres://u:hunter2@127.0.0.1:1/kb?sslmode=disable&connect_timeout=2")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1:1") && err.contains("sslmode=disable"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
