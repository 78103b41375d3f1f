//! The attribute table: every name a rule condition or template may use, its type, and how it
//! is read from the model facts. `docs/rules.md` lists the same table for rule authors; the
//! `attribute_names_are_documented` test keeps the two in step.

use std::cmp::Ordering;

use tmc_model::{
    AuthScheme, Authorization, Classification, Criticality, Encryption, Logging, Rating,
    SecretsHandling, Technology, TrustZone,
};

use crate::expr::{CmpOp, Expr};
use crate::facts::{ComponentFacts, DataSummary, Facts};

/// What a rule is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Component,
    Flow,
    Data,
}

/// Ordered enumerations; comparing them with `<`/`>=` uses this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Classification,
    Logging,
    Encryption,
    TrustZone,
    Criticality,
    Rating,
}

impl Domain {
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Domain::Classification => &["public", "internal", "confidential", "restricted"],
            Domain::Logging => &["none", "basic", "audit", "tamper-evident"],
            Domain::Encryption => &[
                "none",
                "tls-1.0",
                "tls-1.1",
                "application",
                "ssh",
                "ipsec",
                "tls-1.2",
                "tls-1.3",
            ],
            Domain::TrustZone => &[
                "internet",
                "third-party",
                "device",
                "dmz",
                "internal",
                "restricted",
            ],
            Domain::Criticality => &["low", "medium", "high", "mission-critical"],
            Domain::Rating => &["low", "medium", "high", "critical"],
        }
    }

    pub fn rank(self, name: &str) -> Option<u8> {
        self.names()
            .iter()
            .position(|n| *n == name)
            .map(|p| p as u8)
    }
}

/// Static type of an attribute, used by the rule linter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    Bool,
    Num,
    Text,
    /// A string from a fixed set (unordered).
    Choice(&'static [&'static str]),
    Level(Domain),
    List,
}

/// A value during evaluation. Borrowed from the model; nothing is copied for scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    Level(Domain, u8),
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Level(..) => true,
            Value::List(v) => !v.is_empty(),
        }
    }

    /// Text for templates and provenance.
    pub fn render(&self) -> String {
        match self {
            Value::Null => "not declared".into(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
            Value::Num(n) => format!("{n}"),
            Value::Str(s) => (*s).to_string(),
            Value::Level(d, r) => d.names().get(*r as usize).copied().unwrap_or("?").into(),
            Value::List(v) => join_names(&v.iter().map(Value::render).collect::<Vec<_>>()),
        }
    }
}

/// "a", "a and b", "a, b and c"; long lists are shortened so titles stay readable.
pub fn join_names(items: &[String]) -> String {
    match items {
        [] => "none".into(),
        [a] => a.clone(),
        [a, b] => format!("{a} and {b}"),
        _ if items.len() > 6 => format!("{} and {} more", items[..5].join(", "), items.len() - 5),
        _ => format!(
            "{} and {}",
            items[..items.len() - 1].join(", "),
            items[items.len() - 1]
        ),
    }
}

macro_rules! fields {
    ($enum:ident { $($variant:ident => $name:literal : $ty:expr),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $enum { $($variant),* }
        impl $enum {
            pub const ALL: &'static [($enum, &'static str, AttrType)] = &[$(($enum::$variant, $name, $ty)),*];
            fn lookup(name: &str) -> Option<($enum, AttrType)> {
                Self::ALL.iter().find(|(_, n, _)| *n == name).map(|(v, _, t)| (*v, *t))
            }
        }
    };
}

const KINDS: &[&str] = &["external-entity", "process", "data-store"];
const AUTH: &[&str] = &[
    "none",
    "password",
    "session-cookie",
    "oauth2",
    "oidc",
    "saml",
    "jwt",
    "api-key",
    "mtls",
    "certificate",
    "iam",
    "kerberos",
    "basic",
    "shared-secret",
    "other",
];
const AUTHZ: &[&str] = &[
    "none",
    "authenticated",
    "rbac",
    "abac",
    "acl",
    "owner-check",
    "policy-engine",
    "other",
];
const SECRETS: &[&str] = &[
    "none",
    "hardcoded",
    "config-file",
    "environment-variables",
    "vault",
    "kms",
];
const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "grpc",
    "websocket",
    "graphql",
    "sql",
    "nosql",
    "amqp",
    "kafka",
    "mqtt",
    "coap",
    "smtp",
    "ssh",
    "sftp",
    "ftp",
    "ldap",
    "ldaps",
    "dns",
    "tcp",
    "udp",
    "ble",
    "ipc",
    "file",
    "cloud-api",
    "other",
];

fn technologies() -> &'static [&'static str] {
    const N: usize = Technology::ALL.len();
    static NAMES: std::sync::OnceLock<[&'static str; N]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut out = [""; N];
        for (i, t) in Technology::ALL.iter().enumerate() {
            out[i] = t.as_str();
        }
        out
    })
}

fields!(CompField {
    Id => "id": AttrType::Text,
    Name => "name": AttrType::Text,
    Description => "description": AttrType::Text,
    Kind => "kind": AttrType::Choice(KINDS),
    Technology => "technology": AttrType::Choice(&[]),
    TrustZone => "trust_zone": AttrType::Level(Domain::TrustZone),
    InternetFacing => "internet_facing": AttrType::Bool,
    Exposed => "exposed": AttrType::Bool,
    Interface => "interface": AttrType::Choice(crate::facts::INTERFACES),
    InScope => "in_scope": AttrType::Bool,
    CustomDeveloped => "custom_developed": AttrType::Bool,
    Authentication => "authentication": AttrType::Choice(AUTH),
    Mfa => "authentication.mfa": AttrType::Bool,
    Authorization => "authorization": AttrType::Choice(AUTHZ),
    InputValidation => "input_validation": AttrType::Bool,
    OutputEncoding => "output_encoding": AttrType::Bool,
    EncryptionAtRest => "encryption_at_rest": AttrType::Bool,
    Logging => "logging": AttrType::Level(Domain::Logging),
    Hardening => "hardening": AttrType::Bool,
    RateLimiting => "rate_limiting": AttrType::Bool,
    Backups => "backups": AttrType::Bool,
    MultiTenant => "multi_tenant": AttrType::Bool,
    Secrets => "secrets": AttrType::Choice(SECRETS),
    RunsUntrustedCode => "runs_untrusted_code": AttrType::Bool,
    PublicAccess => "public_access": AttrType::Bool,
    ModelUntrustedInput => "model.processes_untrusted_input": AttrType::Bool,
    ModelHasTools => "model.has_tools": AttrType::Bool,
    ModelTools => "model.tools": AttrType::List,
    ModelHumanApproval => "model.human_approval": AttrType::Bool,
    ModelSystemPrompt => "model.system_prompt": AttrType::Bool,
    ModelRag => "model.rag": AttrType::Bool,
    ModelOutputValidation => "model.output_validation": AttrType::Bool,
    ModelGuardrails => "model.guardrails": AttrType::Bool,
    ModelFineTuned => "model.fine_tuned": AttrType::Bool,
    ModelThirdPartyHosted => "model.third_party_hosted": AttrType::Bool,
    DevicePhysical => "device.physically_accessible": AttrType::Bool,
    DeviceSecureBoot => "device.secure_boot": AttrType::Bool,
    DeviceSignedUpdates => "device.signed_updates": AttrType::Bool,
    DeviceDebugDisabled => "device.debug_ports_disabled": AttrType::Bool,
    DeviceHwKeys => "device.hardware_key_storage": AttrType::Bool,
    Tags => "tags": AttrType::List,
    Data => "data": AttrType::List,
    DataMaxClass => "data.max_classification": AttrType::Level(Domain::Classification),
    DataPii => "data.pii": AttrType::Bool,
    DataCredentials => "data.credentials": AttrType::Bool,
    DataFinancial => "data.financial": AttrType::Bool,
    Stored => "stored_data": AttrType::List,
    StoredMaxClass => "stored_data.max_classification": AttrType::Level(Domain::Classification),
    StoredPii => "stored_data.pii": AttrType::Bool,
    StoredCredentials => "stored_data.credentials": AttrType::Bool,
    StoredFinancial => "stored_data.financial": AttrType::Bool,
    InboundCount => "inbound_count": AttrType::Num,
    OutboundCount => "outbound_count": AttrType::Num,
    InboundFromLessTrusted => "inbound_from_less_trusted": AttrType::Bool,
    InboundUnauthenticated => "inbound_unauthenticated": AttrType::Bool,
    UnencryptedFlows => "unencrypted_flows": AttrType::Bool,
    Callers => "callers": AttrType::List,
    Callees => "callees": AttrType::List,
    Boundaries => "boundaries": AttrType::List,
});

fields!(FlowField {
    Id => "id": AttrType::Text,
    Name => "name": AttrType::Text,
    Description => "description": AttrType::Text,
    Protocol => "protocol": AttrType::Choice(PROTOCOLS),
    Port => "port": AttrType::Num,
    Authentication => "authentication": AttrType::Choice(AUTH),
    Encryption => "encryption": AttrType::Level(Domain::Encryption),
    Bidirectional => "bidirectional": AttrType::Bool,
    CrossesBoundary => "crosses_boundary": AttrType::Bool,
    BoundariesCrossed => "boundaries_crossed": AttrType::List,
    Inbound => "inbound": AttrType::Bool,
    Local => "local": AttrType::Bool,
    Data => "data": AttrType::List,
    DataMaxClass => "data.max_classification": AttrType::Level(Domain::Classification),
    DataPii => "data.pii": AttrType::Bool,
    DataCredentials => "data.credentials": AttrType::Bool,
    DataFinancial => "data.financial": AttrType::Bool,
});

fields!(DataField {
    Id => "id": AttrType::Text,
    Name => "name": AttrType::Text,
    Description => "description": AttrType::Text,
    Classification => "classification": AttrType::Level(Domain::Classification),
    Pii => "pii": AttrType::Bool,
    Credentials => "credentials": AttrType::Bool,
    Financial => "financial": AttrType::Bool,
    Confidentiality => "confidentiality": AttrType::Level(Domain::Rating),
    Integrity => "integrity": AttrType::Level(Domain::Rating),
    Availability => "availability": AttrType::Level(Domain::Rating),
    Stores => "stores": AttrType::List,
    Processors => "processors": AttrType::List,
    StoredUnencrypted => "stored_unencrypted": AttrType::Bool,
    CrossesBoundary => "crosses_boundary": AttrType::Bool,
    CrossesUnencrypted => "crosses_unencrypted": AttrType::Bool,
    FlowCount => "flow_count": AttrType::Num,
});

fields!(ProductField {
    Name => "name": AttrType::Text,
    Criticality => "business_criticality": AttrType::Level(Domain::Criticality),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompRole {
    Target,
    Source,
    Destination,
}

/// A resolved attribute path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Comp(CompRole, CompField),
    Flow(FlowField),
    Data(DataField),
    Product(ProductField),
}

impl Attr {
    /// Resolves `path` for a rule of `target` type; returns the attribute and its type.
    pub fn resolve(path: &str, target: TargetType) -> Option<(Attr, AttrType)> {
        if let Some(rest) = path.strip_prefix("product.") {
            return ProductField::lookup(rest).map(|(f, t)| (Attr::Product(f), t));
        }
        let comp = |role, rest: &str| {
            CompField::lookup(rest).map(|(f, t)| {
                let t = if f == CompField::Technology {
                    AttrType::Choice(technologies())
                } else {
                    t
                };
                (Attr::Comp(role, f), t)
            })
        };
        match target {
            TargetType::Component => comp(CompRole::Target, path.strip_prefix("component.")?),
            TargetType::Flow => {
                let rest = path.strip_prefix("flow.")?;
                if let Some(r) = rest.strip_prefix("source.") {
                    comp(CompRole::Source, r)
                } else if let Some(r) = rest.strip_prefix("destination.") {
                    comp(CompRole::Destination, r)
                } else {
                    FlowField::lookup(rest).map(|(f, t)| (Attr::Flow(f), t))
                }
            }
            TargetType::Data => {
                DataField::lookup(path.strip_prefix("data.")?).map(|(f, t)| (Attr::Data(f), t))
            }
        }
    }

    /// Every valid path for a target type, for suggestions and documentation.
    pub fn all_paths(target: TargetType) -> Vec<String> {
        let mut out: Vec<String> = ProductField::ALL
            .iter()
            .map(|(_, n, _)| format!("product.{n}"))
            .collect();
        match target {
            TargetType::Component => out.extend(
                CompField::ALL
                    .iter()
                    .map(|(_, n, _)| format!("component.{n}")),
            ),
            TargetType::Flow => {
                out.extend(FlowField::ALL.iter().map(|(_, n, _)| format!("flow.{n}")));
                for role in ["source", "destination"] {
                    out.extend(
                        CompField::ALL
                            .iter()
                            .map(|(_, n, _)| format!("flow.{role}.{n}")),
                    );
                }
            }
            TargetType::Data => {
                out.extend(DataField::ALL.iter().map(|(_, n, _)| format!("data.{n}")))
            }
        }
        out
    }
}

/// The element a rule is being evaluated on.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Component(usize),
    Flow(usize),
    Data(usize),
}

fn opt_bool<'a>(b: Option<bool>) -> Value<'a> {
    b.map(Value::Bool).unwrap_or(Value::Null)
}

fn names(v: &[String]) -> Value<'_> {
    Value::List(v.iter().map(|s| Value::Str(s.as_str())).collect())
}

fn level<'a>(d: Domain, r: Option<u8>) -> Value<'a> {
    r.map(|r| Value::Level(d, r)).unwrap_or(Value::Null)
}

fn class_rank(c: Option<Classification>) -> Option<u8> {
    c.map(|c| c as u8)
}

fn summary_value(s: &DataSummary, which: u8) -> Value<'_> {
    match which {
        0 => names(&s.names),
        1 => level(Domain::Classification, class_rank(s.max_classification)),
        2 => Value::Bool(s.pii),
        3 => Value::Bool(s.credentials),
        _ => Value::Bool(s.financial),
    }
}

fn comp_value<'a>(cf: &'a ComponentFacts<'a>, field: CompField) -> Value<'a> {
    let c = cf.component;
    use CompField as F;
    match field {
        F::Id => Value::Str(&c.id),
        F::Name => Value::Str(&c.name),
        F::Description => c
            .description
            .as_deref()
            .map(Value::Str)
            .unwrap_or(Value::Null),
        F::Kind => Value::Str(c.kind.as_str()),
        F::Technology => Value::Str(c.technology.as_str()),
        F::TrustZone => Value::Level(Domain::TrustZone, zone_rank(cf.zone)),
        F::InternetFacing => opt_bool(c.internet_facing),
        F::Exposed => Value::Bool(cf.exposed),
        F::Interface => Value::Str(cf.interface),
        F::InScope => Value::Bool(c.in_scope),
        F::CustomDeveloped => opt_bool(c.custom_developed),
        F::Authentication => c
            .authentication
            .as_ref()
            .map(|a| Value::Str(a.scheme.as_str()))
            .unwrap_or(Value::Null),
        F::Mfa => opt_bool(c.authentication.as_ref().and_then(|a| a.mfa)),
        F::Authorization => c
            .authorization
            .map(|a: Authorization| Value::Str(a.as_str()))
            .unwrap_or(Value::Null),
        F::InputValidation => opt_bool(c.input_validation),
        F::OutputEncoding => opt_bool(c.output_encoding),
        F::EncryptionAtRest => opt_bool(c.encryption_at_rest),
        F::Logging => level(Domain::Logging, c.logging.map(|l: Logging| l as u8)),
        F::Hardening => opt_bool(c.hardening),
        F::RateLimiting => opt_bool(c.rate_limiting),
        F::Backups => opt_bool(c.backups),
        F::MultiTenant => opt_bool(c.multi_tenant),
        F::Secrets => c
            .secrets
            .map(|s: SecretsHandling| Value::Str(s.as_str()))
            .unwrap_or(Value::Null),
        F::RunsUntrustedCode => opt_bool(c.runs_untrusted_code),
        F::PublicAccess => opt_bool(c.public_access),
        F::ModelUntrustedInput => {
            opt_bool(c.model.as_ref().and_then(|m| m.processes_untrusted_input))
        }
        F::ModelHasTools => opt_bool(c.model.as_ref().and_then(|m| m.has_tools)),
        F::ModelTools => c
            .model
            .as_ref()
            .map(|m| names(&m.tools))
            .unwrap_or(Value::List(Vec::new())),
        F::ModelHumanApproval => opt_bool(c.model.as_ref().and_then(|m| m.human_approval)),
        F::ModelSystemPrompt => opt_bool(c.model.as_ref().and_then(|m| m.system_prompt)),
        F::ModelRag => opt_bool(c.model.as_ref().and_then(|m| m.rag)),
        F::ModelOutputValidation => opt_bool(c.model.as_ref().and_then(|m| m.output_validation)),
        F::ModelGuardrails => opt_bool(c.model.as_ref().and_then(|m| m.guardrails)),
        F::ModelFineTuned => opt_bool(c.model.as_ref().and_then(|m| m.fine_tuned)),
        F::ModelThirdPartyHosted => opt_bool(c.model.as_ref().and_then(|m| m.third_party_hosted)),
        F::DevicePhysical => opt_bool(c.device.as_ref().and_then(|d| d.physically_accessible)),
        F::DeviceSecureBoot => opt_bool(c.device.as_ref().and_then(|d| d.secure_boot)),
        F::DeviceSignedUpdates => opt_bool(c.device.as_ref().and_then(|d| d.signed_updates)),
        F::DeviceDebugDisabled => opt_bool(c.device.as_ref().and_then(|d| d.debug_ports_disabled)),
        F::DeviceHwKeys => opt_bool(c.device.as_ref().and_then(|d| d.hardware_key_storage)),
        F::Tags => names(&c.tags),
        F::Data => summary_value(&cf.data, 0),
        F::DataMaxClass => summary_value(&cf.data, 1),
        F::DataPii => summary_value(&cf.data, 2),
        F::DataCredentials => summary_value(&cf.data, 3),
        F::DataFinancial => summary_value(&cf.data, 4),
        F::Stored => summary_value(&cf.stored, 0),
        F::StoredMaxClass => summary_value(&cf.stored, 1),
        F::StoredPii => summary_value(&cf.stored, 2),
        F::StoredCredentials => summary_value(&cf.stored, 3),
        F::StoredFinancial => summary_value(&cf.stored, 4),
        F::InboundCount => Value::Num(cf.inbound as f64),
        F::OutboundCount => Value::Num(cf.outbound as f64),
        F::InboundFromLessTrusted => Value::Bool(cf.inbound_from_less_trusted),
        F::InboundUnauthenticated => Value::Bool(cf.inbound_unauthenticated),
        F::UnencryptedFlows => Value::Bool(cf.unencrypted_flows),
        F::Callers => names(&cf.callers),
        F::Callees => names(&cf.callees),
        F::Boundaries => names(&cf.boundaries),
    }
}

fn zone_rank(z: TrustZone) -> u8 {
    z as u8
}

/// Reads one attribute for a subject. Attributes that do not exist for the subject's type are
/// rejected at compile time, so the `Null` fallbacks here are unreachable in practice.
pub fn value<'a>(facts: &'a Facts<'a>, subject: Subject, attr: Attr) -> Value<'a> {
    match (attr, subject) {
        (Attr::Product(ProductField::Name), _) => Value::Str(&facts.model.product.name),
        (Attr::Product(ProductField::Criticality), _) => level(
            Domain::Criticality,
            facts
                .model
                .product
                .business_criticality
                .map(|c: Criticality| c as u8),
        ),
        (Attr::Comp(CompRole::Target, f), Subject::Component(i)) => facts
            .components
            .get(i)
            .map(|c| comp_value(c, f))
            .unwrap_or(Value::Null),
        (Attr::Comp(role, f), Subject::Flow(i)) => {
            let Some(ff) = facts.flows.get(i) else {
                return Value::Null;
            };
            let idx = if role == CompRole::Source {
                ff.source
            } else {
                ff.destination
            };
            facts
                .components
                .get(idx)
                .map(|c| comp_value(c, f))
                .unwrap_or(Value::Null)
        }
        (Attr::Flow(f), Subject::Flow(i)) => {
            let Some(ff) = facts.flows.get(i) else {
                return Value::Null;
            };
            let fl = ff.flow;
            use FlowField as F;
            match f {
                F::Id => Value::Str(&fl.id),
                F::Name => fl.name.as_deref().map(Value::Str).unwrap_or(Value::Null),
                F::Description => fl
                    .description
                    .as_deref()
                    .map(Value::Str)
                    .unwrap_or(Value::Null),
                F::Protocol => fl
                    .protocol
                    .map(|p| Value::Str(p.as_str()))
                    .unwrap_or(Value::Null),
                F::Port => fl
                    .port
                    .map(|p| Value::Num(f64::from(p)))
                    .unwrap_or(Value::Null),
                F::Authentication => fl
                    .authentication
                    .map(|a: AuthScheme| Value::Str(a.as_str()))
                    .unwrap_or(Value::Null),
                F::Encryption => level(
                    Domain::Encryption,
                    fl.encryption.map(|e: Encryption| e as u8),
                ),
                F::Bidirectional => opt_bool(fl.bidirectional),
                F::CrossesBoundary => Value::Bool(ff.crosses_boundary),
                F::BoundariesCrossed => names(&ff.boundaries_crossed),
                F::Inbound => Value::Bool(ff.inbound),
                F::Local => Value::Bool(ff.local),
                F::Data => summary_value(&ff.data, 0),
                F::DataMaxClass => summary_value(&ff.data, 1),
                F::DataPii => summary_value(&ff.data, 2),
                F::DataCredentials => summary_value(&ff.data, 3),
                F::DataFinancial => summary_value(&ff.data, 4),
            }
        }
        (Attr::Data(f), Subject::Data(i)) => {
            let Some(df) = facts.data.get(i) else {
                return Value::Null;
            };
            let d = df.asset;
            use DataField as F;
            let rating = |r: Option<Rating>| level(Domain::Rating, r.map(|r| r as u8));
            match f {
                F::Id => Value::Str(&d.id),
                F::Name => Value::Str(&d.name),
                F::Description => d
                    .description
                    .as_deref()
                    .map(Value::Str)
                    .unwrap_or(Value::Null),
                F::Classification => Value::Level(Domain::Classification, d.classification as u8),
                F::Pii => opt_bool(d.pii),
                F::Credentials => opt_bool(d.credentials),
                F::Financial => opt_bool(d.financial),
                F::Confidentiality => rating(d.confidentiality),
                F::Integrity => rating(d.integrity),
                F::Availability => rating(d.availability),
                F::Stores => names(&df.stores),
                F::Processors => names(&df.processors),
                F::StoredUnencrypted => Value::Bool(df.stored_unencrypted),
                F::CrossesBoundary => Value::Bool(df.crosses_boundary),
                F::CrossesUnencrypted => Value::Bool(df.crosses_unencrypted),
                F::FlowCount => Value::Num(df.flows as f64),
            }
        }
        _ => Value::Null,
    }
}

/// Evaluates a compiled condition.
pub fn eval<'a>(facts: &'a Facts<'a>, subject: Subject, e: &'a Expr<Attr>) -> Value<'a> {
    match e {
        Expr::Or(items) => Value::Bool(items.iter().any(|x| eval(facts, subject, x).truthy())),
        Expr::And(items) => Value::Bool(items.iter().all(|x| eval(facts, subject, x).truthy())),
        Expr::Not(x) => Value::Bool(!eval(facts, subject, x).truthy()),
        // `x in [literal, ...]` is the most common test; avoid building the list each time.
        Expr::Compare(a, CmpOp::In, b) if matches!(**b, Expr::List(_)) => {
            let a = eval(facts, subject, a);
            let Expr::List(items) = &**b else {
                return Value::Bool(false);
            };
            Value::Bool(
                !matches!(a, Value::Null)
                    && items.iter().any(|x| equal(&a, &eval(facts, subject, x))),
            )
        }
        Expr::Compare(a, op, b) => {
            let a = eval(facts, subject, a);
            let b = eval(facts, subject, b);
            Value::Bool(compare(&a, *op, &b))
        }
        Expr::Path(attr) => value(facts, subject, *attr),
        Expr::Str(s) => Value::Str(s),
        Expr::Num(n) => Value::Num(*n),
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Null => Value::Null,
        Expr::List(items) => Value::List(items.iter().map(|x| eval(facts, subject, x)).collect()),
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Level(d, x), Value::Str(s)) => d.rank(s).map(|y| x.cmp(&y)),
        (Value::Str(s), Value::Level(d, y)) => d.rank(s).map(|x| x.cmp(y)),
        (Value::Level(d1, x), Value::Level(d2, y)) if d1 == d2 => Some(x.cmp(y)),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => match b {
            Value::List(items) => !matches!(a, Value::Null) && items.iter().any(|x| equal(a, x)),
            _ => false,
        },
        CmpOp::Contains => match a {
            Value::List(items) => items.iter().any(|x| equal(x, b)),
            Value::Str(s) => match b {
                Value::Str(t) => contains_ignore_case(s, t),
                _ => false,
            },
            _ => false,
        },
    }
}

/// Case-insensitive substring test without allocating: rules test names and descriptions this
/// way on every element, so lower-casing copies would dominate a large draft. ASCII letters fold;
/// other characters must match exactly (rule literals are ASCII keywords).
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::contains_ignore_case;

    #[test]
    fn substring_ignores_ascii_case() {
        assert!(contains_ignore_case("Internal ADMIN console", "admin"));
        assert!(contains_ignore_case("Back office", "OFFICE"));
        assert!(!contains_ignore_case("Adm in", "admin"));
        assert!(contains_ignore_case("x", ""));
        assert!(!contains_ignore_case("", "a"));
    }
}
