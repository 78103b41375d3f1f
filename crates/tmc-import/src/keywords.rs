//! Guessing a component's technology and a flow's protocol from the words of a label.
//!
//! Every importer asks here, so that "Postgres" or "HTTPS" means the same whatever the format.
//! The words live in `data/keywords.yaml` (how matching and priority work is described at the
//! top of that file), because which word means what is a security engineer's call, not code.
//!
//! # Why the table is checked and generated at build time
//!
//! `build.rs` parses the file with the model's own `Technology` and `Protocol` enums, checks
//! it (`schema::check`) and writes the entries out as static tables
//! that are included below. A broken file therefore fails `cargo build` with the entry and the
//! reason, and the guesses here cannot fail at run time. The alternatives were worse: parsing
//! at first use would need either an `expect` or a silent fallback to an empty table (every
//! guess "unknown", with nothing telling anyone why), or a `Result` threaded through every
//! importer for a fault that no input can cause and only a developer can fix.

use tmc_model::{Protocol, Technology};

#[cfg(test)]
mod schema;

/// One word of a keyword: matches a text word equal to `stem`, or starting with it when
/// `prefix` (written `stem*` in the file).
struct Word {
    stem: &'static str,
    prefix: bool,
}

/// One entry of a table: its value and the keywords (each a run of words) that select it.
struct Entry<T: 'static> {
    value: T,
    /// Protocol entries only: trusted in a protocol field, not in prose.
    protocol_field_only: bool,
    keywords: &'static [&'static [Word]],
}

// `TECHNOLOGIES` and `PROTOCOLS`, in the file's order.
include!(concat!(env!("OUT_DIR"), "/keywords.rs"));

/// Where the text a protocol is guessed from comes from; generic words count only in some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A field whose purpose is to state the protocol (Threat Dragon's `protocol`).
    ProtocolField,
    /// A flow's name or description, or a diagram's edge label: words there may describe the
    /// payload ("File Request") as well as the wire.
    Prose,
}

/// The technology named by a label, type, icon name or description; `None` when no keyword
/// of `data/keywords.yaml` occurs in it.
pub fn technology(text: &str) -> Option<Technology> {
    // No technology entry is protocol-field-only, so the flag changes nothing here.
    first_match(TECHNOLOGIES, &words(text), true)
}

/// The protocol named by `text` ("HTTPS/JSON", "gRPC over TLS", "JDBC"); `None` when none is.
pub fn protocol(text: &str, kind: TextKind) -> Option<Protocol> {
    first_match(PROTOCOLS, &words(text), kind == TextKind::ProtocolField)
}

/// The value of the first entry with a keyword in `words`; entries marked protocol-field-only
/// take part only when `field` says the text is such a field.
fn first_match<T: Copy>(table: &[Entry<T>], words: &[String], field: bool) -> Option<T> {
    table
        .iter()
        .filter(|e| field || !e.protocol_field_only)
        .find(|e| e.keywords.iter().any(|k| occurs(k, words)))
        .map(|e| e.value)
}

/// Lower-case words: runs of letters and digits, so "API-Gateway" and "api_gateway" are both
/// `api gateway`, and `ci` never matches inside "circle".
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the keyword's words occur consecutively in `words`.
fn occurs(keyword: &[Word], words: &[String]) -> bool {
    !keyword.is_empty()
        && words.windows(keyword.len()).any(|run| {
            run.iter().zip(keyword).all(|(w, k)| {
                if k.prefix {
                    w.starts_with(k.stem)
                } else {
                    w == k.stem
                }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = include_str!("../data/keywords.yaml");

    fn render(keyword: &[Word]) -> String {
        keyword
            .iter()
            .map(|w| format!("{}{}", w.stem, if w.prefix { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn rendered<T>(e: &Entry<T>) -> Vec<String> {
        e.keywords.iter().map(|k| render(k)).collect()
    }

    /// The build script is what stops a broken file; this proves that the tables it generated
    /// are the file, entry for entry and in order, and that the file passes its checks.
    #[test]
    fn generated_tables_are_the_file() {
        let file: schema::KeywordFile = serde_saphyr::from_str(FILE).unwrap();
        assert_eq!(schema::check(&file), Vec::<String>::new());
        assert_eq!(file.technologies.len(), TECHNOLOGIES.len());
        for (f, g) in file.technologies.iter().zip(TECHNOLOGIES) {
            assert_eq!((f.technology, &f.keywords), (g.value, &rendered(g)));
            assert!(!g.protocol_field_only);
        }
        assert_eq!(file.protocols.len(), PROTOCOLS.len());
        for (f, g) in file.protocols.iter().zip(PROTOCOLS) {
            assert_eq!(
                (f.protocol, f.protocol_field_only, &f.keywords),
                (g.value, g.protocol_field_only, &rendered(g))
            );
        }
    }

    /// A technology or protocol nobody can reach is a gap in the table, not a choice.
    #[test]
    fn every_value_but_other_has_keywords() {
        for t in Technology::ALL.iter().filter(|t| **t != Technology::Other) {
            assert!(
                TECHNOLOGIES.iter().any(|e| e.value == *t),
                "no keyword selects technology `{}`",
                t.as_str()
            );
        }
        let protocols = [
            Protocol::Http,
            Protocol::Https,
            Protocol::Grpc,
            Protocol::Websocket,
            Protocol::Graphql,
            Protocol::Sql,
            Protocol::Nosql,
            Protocol::Amqp,
            Protocol::Kafka,
            Protocol::Mqtt,
            Protocol::Coap,
            Protocol::Smtp,
            Protocol::Ssh,
            Protocol::Sftp,
            Protocol::Ftp,
            Protocol::Ldap,
            Protocol::Ldaps,
            Protocol::Dns,
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Ble,
            Protocol::Ipc,
            Protocol::File,
            Protocol::CloudApi,
        ];
        for p in protocols {
            assert!(
                PROTOCOLS.iter().any(|e| e.value == p),
                "no keyword selects protocol `{}`",
                p.as_str()
            );
        }
    }

    /// The checks the build relies on reject what they promise to.
    #[test]
    fn check_rejects_broken_files() {
        let problems = |yaml: &str| match serde_saphyr::from_str::<schema::KeywordFile>(yaml) {
            Ok(f) => schema::check(&f),
            Err(e) => vec![e.to_string()],
        };
        let unknown =
            problems("technologies: [{technology: dtabase, keywords: [db]}]\nprotocols: []\n");
        assert!(unknown.iter().any(|p| p.contains("dtabase")), "{unknown:?}");
        let syntax = problems(
            "technologies: [{technology: database, keywords: [Postgres]}]\nprotocols: []\n",
        );
        assert!(
            syntax.iter().any(|p| p.contains("lower-case")),
            "{syntax:?}"
        );
        let spacing = problems(
            "technologies: [{technology: database, keywords: ['sql  server']}]\nprotocols: []\n",
        );
        assert!(
            spacing.iter().any(|p| p.contains("one space")),
            "{spacing:?}"
        );
        let shadowed = problems(
            "technologies:\n  - {technology: user, keywords: [user*]}\n  - {technology: database, keywords: [users db]}\nprotocols: []\n",
        );
        assert!(
            shadowed.iter().any(|p| p.contains("can never decide")),
            "{shadowed:?}"
        );
        let redundant =
            problems("technologies: [{technology: ci-cd, keywords: [ci, ci cd]}]\nprotocols: []\n");
        assert!(
            redundant.iter().any(|p| p.contains("is redundant")),
            "{redundant:?}"
        );
        // A protocol-field-only entry does not shadow a later entry in prose.
        let field_only = problems(
            "technologies: []\nprotocols:\n  - {protocol: file, keywords: [file], protocol_field_only: true}\n  - {protocol: ftp, keywords: [file transfer]}\n",
        );
        assert_eq!(field_only, Vec::<String>::new());
        let unknown_field = problems(
            "technologies: []\nprotocols: [{protocol: http, keywords: [http], prose: false}]\n",
        );
        assert!(!unknown_field.is_empty());
    }

    #[test]
    fn matching_is_by_whole_words_and_prefixes() {
        assert_eq!(technology("Circle"), None);
        assert_eq!(technology("CI/CD"), Some(Technology::CiCd));
        assert_eq!(technology("PostgreSQL"), Some(Technology::Database));
        assert_eq!(technology("capital gains"), None);
        assert_eq!(
            technology("mxgraph.aws4.api_gateway"),
            Some(Technology::ApiGateway)
        );
        assert_eq!(
            protocol("File", TextKind::ProtocolField),
            Some(Protocol::File)
        );
        assert_eq!(protocol("File Request", TextKind::Prose), None);
    }
}
