//! Where AWS credentials come from, in the order of the AWS SDKs' default chain: the
//! environment lookup the caller passes in, one profile of the shared credentials file, the
//! container credentials endpoint (ECS task roles, EKS Pod Identity), then EC2 instance
//! metadata (IMDSv2). SSO, `credential_process`, web identity tokens and roles assumed from a
//! profile's `role_arn` are not read.

use std::path::{Path, PathBuf};

use crate::{AwsError, container, imds};

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
    /// The first source that has credentials, in the SDKs' order:
    ///
    /// 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` when both the key
    ///    id and the secret are set;
    /// 2. the profile (`profile`, else `AWS_PROFILE`, else `default`) in
    ///    `AWS_SHARED_CREDENTIALS_FILE` or `$HOME/.aws/credentials`;
    /// 3. the container credentials endpoint, when `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
    ///    `AWS_CONTAINER_CREDENTIALS_FULL_URI` is set;
    /// 4. the role of the EC2 instance, unless `AWS_EC2_METADATA_DISABLED=true`.
    ///
    /// A profile chosen by name (argument or `AWS_PROFILE`) must be in the file: it is an error,
    /// not a reason to go on to a role, which would be another identity without a word. For
    /// the `default` profile, a missing file or section moves on; a half-written one (key id
    /// without secret or the reverse) is an error. Likewise a configured container endpoint
    /// that fails is an error, while instance metadata that fails only ends the chain with
    /// [`AwsError::NoCredentials`], which lists every source tried and why it gave nothing.
    ///
    /// The environment is a lookup passed in rather than read here, because only the CLI reads
    /// the process environment (tests and embedders pass their own). The file and the
    /// endpoints are read once, here, so the callers' request building stays free of I/O;
    /// role credentials are not refreshed, since a client lives for one command.
    pub fn resolve(
        env: &dyn Fn(&str) -> Option<String>,
        profile: Option<&str>,
    ) -> Result<AwsCredentials, AwsError> {
        let mut tried = Vec::new();
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            });
        }
        tried.push("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not both set".into());

        match from_file(env, profile)? {
            Ok(credentials) => return Ok(credentials),
            Err(why) => tried.push(why),
        }

        if let Some(credentials) = container::credentials(env)? {
            return Ok(credentials);
        }
        tried.push(
            "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
             AWS_CONTAINER_CREDENTIALS_FULL_URI not set"
                .into(),
        );

        match imds::credentials(env) {
            Ok(credentials) => Ok(credentials),
            Err(why) => {
                tried.push(why);
                Err(AwsError::NoCredentials { tried })
            }
        }
    }
}

/// The shared credentials file step: `Ok(Ok(_))` credentials, `Ok(Err(why))` nothing here and
/// the chain goes on (`why` is the line for the final message), `Err` a stop.
fn from_file(
    env: &dyn Fn(&str) -> Option<String>,
    profile: Option<&str>,
) -> Result<Result<AwsCredentials, String>, AwsError> {
    let chosen = profile.map(str::to_string).or_else(|| env("AWS_PROFILE"));
    let explicit = chosen.is_some();
    let profile = chosen.unwrap_or_else(|| "default".into());
    let Some(path) = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".aws/credentials")))
    else {
        if explicit {
            return Err(AwsError::NoCredentialsFile { profile });
        }
        return Ok(Err(
            "shared credentials file: neither AWS_SHARED_CREDENTIALS_FILE nor HOME set".into(),
        ));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Err(format!(
                "shared credentials file: {} not found",
                path.display()
            )));
        }
        Err(source) => return Err(AwsError::Unreadable { path, source }),
    };
    match read_profile(&text, &profile) {
        Profile::Complete(credentials) => Ok(Ok(credentials)),
        Profile::Absent if !explicit => Ok(Err(format!(
            "shared credentials file: no [{profile}] profile with keys in {}",
            path.display()
        ))),
        Profile::Absent | Profile::Partial => Err(AwsError::IncompleteProfile { profile, path }),
    }
}

/// What a credentials file says about one profile.
enum Profile {
    Complete(AwsCredentials),
    /// The key id or the secret, not both: a mistake to report, not a profile to skip.
    Partial,
    /// No section, or a section without either key.
    Absent,
}

/// Reads one profile of an INI-style AWS credentials file: `[name]` or `[profile name]`
/// sections, `key = value` lines, `#` and `;` comment lines. `None` when the profile is absent
/// or lacks the key id or the secret; the caller knows the path and says which file it was.
pub fn parse_credentials_file(text: &str, profile: &str) -> Option<AwsCredentials> {
    match read_profile(text, profile) {
        Profile::Complete(credentials) => Some(credentials),
        Profile::Partial | Profile::Absent => None,
    }
}

fn read_profile(text: &str, profile: &str) -> Profile {
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
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Profile::Complete(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        (None, None) => Profile::Absent,
        _ => Profile::Partial,
    }
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

    /// Instance metadata off, so that no test here reaches for 169.254.169.254 (which, on an
    /// EC2 machine, could answer with real credentials).
    fn imds_off(k: &str) -> Option<String> {
        (k == "AWS_EC2_METADATA_DISABLED").then(|| "true".into())
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
    fn nothing_anywhere_lists_every_source_tried() {
        let err = AwsCredentials::resolve(&imds_off, None).expect_err("nothing anywhere");
        let AwsError::NoCredentials { tried } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tried.len(), 4, "{tried:?}");
        let text = err.to_string();
        for part in [
            "no AWS credentials",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not both set",
            "neither AWS_SHARED_CREDENTIALS_FILE nor HOME",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "disabled by AWS_EC2_METADATA_DISABLED",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    #[test]
    fn the_default_profile_may_be_missing_a_chosen_one_may_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent").display().to_string();
        let env = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(missing.clone()),
            _ => imds_off(k),
        };
        let err = AwsCredentials::resolve(&env, None).expect_err("no file");
        assert!(matches!(err, AwsError::NoCredentials { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("{missing} not found")),
            "{err}"
        );

        let err = AwsCredentials::resolve(&env, Some("dev")).expect_err("chosen, no file");
        assert!(matches!(err, AwsError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains(&missing), "{err}");

        let named = |k: &str| (k == "AWS_PROFILE").then(|| "dev".to_string());
        let err = AwsCredentials::resolve(&named, None).expect_err("chosen, no HOME");
        assert!(matches!(err, AwsError::NoCredentialsFile { .. }), "{err:?}");
        assert!(err.to_string().contains("[dev]"), "{err}");

        // A file without a [default] section moves on; a chosen absent profile does not.
        let other = dir.path().join("other");
        std::fs::write(
            &other,
            "[other]\naws_access_key_id=A\naws_secret_access_key=B\n",
        )
        .expect("write");
        let o = other.display().to_string();
        let env = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(o.clone()),
            _ => imds_off(k),
        };
        let err = AwsCredentials::resolve(&env, None).expect_err("no [default]");
        assert!(err.to_string().contains("no [default] profile"), "{err}");
        let err = AwsCredentials::resolve(&env, Some("dev")).expect_err("no [dev]");
        assert!(matches!(err, AwsError::IncompleteProfile { .. }), "{err:?}");
    }

    #[test]
    fn half_written_profiles_and_unreadable_files_stop_the_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("credentials");
        std::fs::write(&file, FILE).expect("write");
        let f = file.display().to_string();
        let env = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(f.clone()),
            _ => imds_off(k),
        };
        let err = AwsCredentials::resolve(&env, Some("no-secret")).expect_err("no secret");
        let text = err.to_string();
        assert!(text.contains("[no-secret]") && text.contains(&f), "{text}");

        let partial = dir.path().join("partial");
        std::fs::write(&partial, "[default]\naws_access_key_id = A\n").expect("write");
        let p = partial.display().to_string();
        let env = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(p.clone()),
            _ => imds_off(k),
        };
        let err = AwsCredentials::resolve(&env, None).expect_err("half a default profile");
        assert!(matches!(err, AwsError::IncompleteProfile { .. }), "{err:?}");

        // A directory is there but cannot be read as a file: an error, not "not found".
        let d = dir.path().display().to_string();
        let env = |k: &str| match k {
            "AWS_SHARED_CREDENTIALS_FILE" => Some(d.clone()),
            _ => imds_off(k),
        };
        let err = AwsCredentials::resolve(&env, None).expect_err("a directory");
        assert!(matches!(err, AwsError::Unreadable { .. }), "{err:?}");
    }
}
