//! Where AWS credentials come from: the environment lookup the caller passes in, else one profile
//! of the shared credentials file. This is the subset of the SDK's default chain that needs no
//! network and no SDK: SSO, instance and container roles and `credential_process` are not read.

use std::path::{Path, PathBuf};

use crate::AwsError;

/// An access key, its secret and, for temporary credentials, the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    /// Never prints the secret or the session token, so credentials can sit in structs that
    /// are logged or shown in an error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl AwsCredentials {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` when both the key id
    /// and the secret are set; else the profile (`profile`, else `AWS_PROFILE`, else `default`)
    /// in `AWS_SHARED_CREDENTIALS_FILE` or `$HOME/.aws/credentials`.
    ///
    /// The environment is a lookup passed in rather than read here, because only the CLI reads
    /// the process environment (tests and embedders pass their own). The file is read once,
    /// here, so the callers' request building stays free of I/O.
    pub fn resolve(
        env: &dyn Fn(&str) -> Option<String>,
        profile: Option<&str>,
    ) -> Result<AwsCredentials, AwsError> {
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            });
        }
        let profile = profile
            .map(str::to_string)
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".into());
        let path = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".aws/credentials")))
            .ok_or(AwsError::NoCredentials)?;
        let text = std::fs::read_to_string(&path).map_err(|source| AwsError::Unreadable {
            path: path.clone(),
            source,
        })?;
        parse_credentials_file(&text, &profile).ok_or(AwsError::IncompleteProfile { profile, path })
    }
}

/// Reads one profile of an INI-style AWS credentials file: `[name]` or `[profile name]`
/// sections, `key = value` lines, `#` and `;` comment lines. `None` when the profile is absent
/// or lacks the key id or the secret; the caller knows the path and says which file it was.
pub fn parse_credentials_file(text: &str, profile: &str) -> Option<AwsCredentials> {
    let mut current = String::new();
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().trim_start_matches("profile ").to_string();
        } else if current == profile
            && let Some((k, v)) = line.split_once('=')
        {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(AwsCredentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# a comment
; another comment
[default]
aws_access_key_id = A
aws_secret_access_key = B

[profile dev]
aws_access_key_id=C
AWS_SECRET_ACCESS_KEY=D
aws_session_token=E
region = eu-west-1

[no-secret]
aws_access_key_id = F

[commented]
# aws_access_key_id = G
aws_secret_access_key = H
";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn reads_the_asked_profile_and_only_it() {
        let d = parse_credentials_file(FILE, "default").expect("default");
        assert_eq!(
            (d.access_key_id.as_str(), d.secret_access_key.as_str()),
            ("A", "B")
        );
        assert_eq!(
            d.session_token, None,
            "dev's token must not leak into default"
        );
        let dev = parse_credentials_file(FILE, "dev").expect("[profile dev] is profile dev");
        assert_eq!(dev.access_key_id, "C");
        assert_eq!(dev.secret_access_key, "D", "key names are case-insensitive");
        assert_eq!(dev.session_token.as_deref(), Some("E"));
    }

    #[test]
    fn missing_profiles_keys_and_commented_keys_give_none() {
        assert!(parse_credentials_file(FILE, "none").is_none());
        assert!(parse_credentials_file(FILE, "no-secret").is_none());
        assert!(
            parse_credentials_file(FILE, "commented").is_none(),
            "a commented-out key id is no key id"
        );
        assert!(parse_credentials_file("", "default").is_none());
        // Keys before any section belong to no profile.
        assert!(
            parse_credentials_file("aws_access_key_id=A\naws_secret_access_key=B\n", "default")
                .is_none()
        );
    }

    #[test]
    fn debug_hides_secret_and_token() {
        let c = AwsCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s3cr3t".into(),
            session_token: Some("t0k3n".into()),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID"), "{shown}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("credentials");
        std::fs::write(&file, FILE).expect("write");
        let file = file.display().to_string();
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("ENVID".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("ENVSECRET".to_string()),
            "AWS_SESSION_TOKEN" => Some("ENVTOKEN".to_string()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some(file.clone()),
            "AWS_PROFILE" => Some("dev".to_string()),
            _ => None,
        };
        let c = AwsCredentials::resolve(&env, Some("default")).expect("env credentials");
        assert_eq!(c.access_key_id, "ENVID");
        assert_eq!(c.secret_access_key, "ENVSECRET");
        assert_eq!(c.session_token.as_deref(), Some("ENVTOKEN"));

        // A key id without its secret is not enough: the file is read instead.
        let half = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("ENVID".to_string()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some(file.clone()),
            _ => None,
        };
        let c = AwsCredentials::resolve(&half, None).expect("file credentials");
        assert_eq!(c.access_key_id, "A");
    }

    #[test]
    fn profile_argument_then_aws_profile_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("credentials");
        std::fs::write(&file, FILE).expect("write");
        let file = file.display().to_string();
        let with_profile = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(file.clone()),
            "AWS_PROFILE" => Some("dev".to_string()),
            _ => None,
        };
        let id = |env: &dyn Fn(&str) -> Option<String>, p: Option<&str>| {
            AwsCredentials::resolve(env, p).map(|c| c.access_key_id)
        };
        assert_eq!(id(&with_profile, None).ok().as_deref(), Some("C"));
        assert_eq!(
            id(&with_profile, Some("default")).ok().as_deref(),
            Some("A")
        );
        let file_only = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| file.clone());
        assert_eq!(id(&file_only, None).ok().as_deref(), Some("A"));
    }

    #[test]
    fn the_file_under_home_is_the_fallback() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(home.path().join(".aws")).expect("mkdir");
        std::fs::write(home.path().join(".aws/credentials"), FILE).expect("write");
        let h = home.path().display().to_string();
        let env = |k: &str| (k == "HOME").then(|| h.clone());
        let c = AwsCredentials::resolve(&env, Some("dev")).expect("home credentials");
        assert_eq!(c.access_key_id, "C");
    }

    #[test]
    fn errors_say_what_is_missing_and_where() {
        let err = AwsCredentials::resolve(&no_env, None).expect_err("nothing anywhere");
        assert!(matches!(err, AwsError::NoCredentials), "{err:?}");
        assert!(err.to_string().contains("no AWS credentials"), "{err}");

        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent");
        let m = missing.display().to_string();
        let env = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| m.clone());
        let err = AwsCredentials::resolve(&env, None).expect_err("unreadable file");
        assert!(matches!(err, AwsError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains(&m), "{err}");

        let file = dir.path().join("credentials");
        std::fs::write(&file, FILE).expect("write");
        let f = file.display().to_string();
        let env = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| f.clone());
        let err = AwsCredentials::resolve(&env, Some("no-secret")).expect_err("no secret");
        let text = err.to_string();
        assert!(text.contains("[no-secret]") && text.contains(&f), "{text}");
    }
}
