//! The system model: what a developer writes in `threatmodel.yaml`.
//!
//! Every struct denies unknown fields so that a typo (`internet_facin: true`) is an error with a
//! suggestion instead of a silently missing control: a missing control means a noisy draft, a
//! silently dropped one means a wrong one.
//!
//! Security attributes are `Option`s on purpose: "not declared" and "declared absent" are
//! different facts. Rules fire on declared weaknesses and on undeclared controls alike, but the
//! draft explains which of the two it saw.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only DSL version this build reads.
pub const DSL_VERSION: u32 = 1;

/// A whole system to threat-model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemModel {
    /// DSL version; must be 1.
    pub version: u32,
    pub product: Product,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Data assets: what the system handles and must protect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataAsset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<Flow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_boundaries: Vec<TrustBoundary>,
    /// Free text for reviewers and for the model prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// What the product is and why it matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_criticality: Option<Criticality>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Facts the threat model relies on (e.g. "the cloud provider's hypervisor is trusted").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// What this model deliberately does not cover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Business criticality of the product; raises impact of every threat.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Criticality {
    Low,
    Medium,
    High,
    MissionCritical,
}

/// STRIDE-per-element kind of a component (Microsoft's DFD element kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ElementKind {
    ExternalEntity,
    Process,
    DataStore,
}

impl ElementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ElementKind::ExternalEntity => "external-entity",
            ElementKind::Process => "process",
            ElementKind::DataStore => "data-store",
        }
    }
}

/// The technology catalogue. Rules key on these names; `docs/dsl.md` describes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Technology {
    /// A person using the system.
    User,
    Browser,
    MobileApp,
    DesktopApp,
    WebApp,
    ApiService,
    ApiGateway,
    Worker,
    ServerlessFunction,
    BatchJob,
    Database,
    NosqlDatabase,
    VectorDatabase,
    SearchIndex,
    ObjectStorage,
    FileStorage,
    Cache,
    Queue,
    IdentityProvider,
    SecretsVault,
    LoadBalancer,
    Waf,
    Cdn,
    /// A large language model or other ML inference endpoint.
    Llm,
    /// An LLM-driven agent that plans and calls tools.
    Agent,
    IotDevice,
    IotGateway,
    ContainerPlatform,
    CiCd,
    Monitoring,
    EmailService,
    PaymentProvider,
    /// A third-party SaaS or partner API.
    ExternalService,
    /// The API server of a container orchestrator's control plane (kube-apiserver): every
    /// change to the cluster goes through it; exposes an HTTP API.
    OrchestratorApi,
    /// A controller or operator that watches the orchestrator API and reconciles resources;
    /// it makes outbound API calls and usually accepts no inbound connections.
    Controller,
    /// An admission webhook the orchestrator API server calls to validate or mutate objects
    /// before they are stored (policy engines such as OPA Gatekeeper, Kyverno); an HTTP API.
    AdmissionWebhook,
    /// The orchestrator's scheduler, which places workloads on nodes (kube-scheduler).
    Scheduler,
    /// An agent or daemon on every node (kubelet, container runtime daemon, host agent);
    /// reached over a local socket or gRPC.
    NodeAgent,
    /// A command-line tool run on an operator's or developer's workstation (kubectl, vault);
    /// it only initiates connections.
    Cli,
    /// A service mesh data plane or sidecar proxy (Envoy, Istio, Linkerd) that carries and
    /// authenticates service-to-service traffic.
    ServiceMesh,
    /// An ingress controller: the proxy that routes outside traffic into the cluster and is
    /// configured from orchestrator objects (ingress-nginx, Traefik).
    IngressController,
    /// A broker process routing messages between publishers and subscribers (an MQTT broker,
    /// NATS); `queue` is the durable queue or topic as a store.
    MessageBroker,
    /// A hypervisor or virtual machine monitor (KVM with a VMM, Firecracker, QEMU, Xen): the
    /// host side of a guest's hypercall and exit interface.
    Hypervisor,
    /// Device emulation or a paravirtual device back-end (virtio, vhost-user) that handles
    /// requests written by a guest.
    DeviceEmulation,
    /// A sandbox or user-space kernel that confines untrusted code (gVisor, a seccomp jail,
    /// a WebAssembly runtime): the system-call interface of the code it runs.
    Sandbox,
    /// A guest virtual machine or microVM whose contents its tenant, not the operator, controls.
    VirtualMachine,
    /// A hardware security module: keys are generated and used inside it and never leave it.
    Hsm,
    /// A key-management service that holds keys and performs cryptographic operations for
    /// callers (AWS KMS, Cloud KMS, a self-hosted KMS); an HTTP or gRPC API.
    Kms,
    /// A replicated key-value store kept consistent by consensus (etcd, ZooKeeper, Consul KV),
    /// often the state store of a control plane.
    ConsensusStore,
    /// A registry of container images or other OCI artefacts (ECR, Harbor, Docker Hub).
    ContainerRegistry,
    /// A source code repository (GitHub, a Git server).
    SourceRepository,
    /// A runner or build agent that executes pipeline jobs (GitHub Actions runner, GitLab
    /// Runner, Jenkins agent).
    BuildRunner,
    /// A VPN gateway or concentrator that admits remote users or sites into a network.
    VpnGateway,
    /// A store of logs, metrics or audit events (Loki, a time-series database, a log archive);
    /// `monitoring` is the collecting and alerting process.
    LogStore,
    /// A video or media pipeline: ingest, transcoding, analysis or streaming of audio and video.
    MediaPipeline,
    /// A server-side browser that loads untrusted pages on behalf of users and streams the
    /// result to them (remote browser isolation, headless browsers).
    RemoteBrowser,
    Other,
}

impl Technology {
    pub const ALL: &'static [Technology] = &[
        Technology::User,
        Technology::Browser,
        Technology::MobileApp,
        Technology::DesktopApp,
        Technology::WebApp,
        Technology::ApiService,
        Technology::ApiGateway,
        Technology::Worker,
        Technology::ServerlessFunction,
        Technology::BatchJob,
        Technology::Database,
        Technology::NosqlDatabase,
        Technology::VectorDatabase,
        Technology::SearchIndex,
        Technology::ObjectStorage,
        Technology::FileStorage,
        Technology::Cache,
        Technology::Queue,
        Technology::IdentityProvider,
        Technology::SecretsVault,
        Technology::LoadBalancer,
        Technology::Waf,
        Technology::Cdn,
        Technology::Llm,
        Technology::Agent,
        Technology::IotDevice,
        Technology::IotGateway,
        Technology::ContainerPlatform,
        Technology::CiCd,
        Technology::Monitoring,
        Technology::EmailService,
        Technology::PaymentProvider,
        Technology::ExternalService,
        Technology::OrchestratorApi,
        Technology::Controller,
        Technology::AdmissionWebhook,
        Technology::Scheduler,
        Technology::NodeAgent,
        Technology::Cli,
        Technology::ServiceMesh,
        Technology::IngressController,
        Technology::MessageBroker,
        Technology::Hypervisor,
        Technology::DeviceEmulation,
        Technology::Sandbox,
        Technology::VirtualMachine,
        Technology::Hsm,
        Technology::Kms,
        Technology::ConsensusStore,
        Technology::ContainerRegistry,
        Technology::SourceRepository,
        Technology::BuildRunner,
        Technology::VpnGateway,
        Technology::LogStore,
        Technology::MediaPipeline,
        Technology::RemoteBrowser,
        Technology::Other,
    ];

    /// The kebab-case name used in YAML and in rule conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            Technology::User => "user",
            Technology::Browser => "browser",
            Technology::MobileApp => "mobile-app",
            Technology::DesktopApp => "desktop-app",
            Technology::WebApp => "web-app",
            Technology::ApiService => "api-service",
            Technology::ApiGateway => "api-gateway",
            Technology::Worker => "worker",
            Technology::ServerlessFunction => "serverless-function",
            Technology::BatchJob => "batch-job",
            Technology::Database => "database",
            Technology::NosqlDatabase => "nosql-database",
            Technology::VectorDatabase => "vector-database",
            Technology::SearchIndex => "search-index",
            Technology::ObjectStorage => "object-storage",
            Technology::FileStorage => "file-storage",
            Technology::Cache => "cache",
            Technology::Queue => "queue",
            Technology::IdentityProvider => "identity-provider",
            Technology::SecretsVault => "secrets-vault",
            Technology::LoadBalancer => "load-balancer",
            Technology::Waf => "waf",
            Technology::Cdn => "cdn",
            Technology::Llm => "llm",
            Technology::Agent => "agent",
            Technology::IotDevice => "iot-device",
            Technology::IotGateway => "iot-gateway",
            Technology::ContainerPlatform => "container-platform",
            Technology::CiCd => "ci-cd",
            Technology::Monitoring => "monitoring",
            Technology::EmailService => "email-service",
            Technology::PaymentProvider => "payment-provider",
            Technology::ExternalService => "external-service",
            Technology::OrchestratorApi => "orchestrator-api",
            Technology::Controller => "controller",
            Technology::AdmissionWebhook => "admission-webhook",
            Technology::Scheduler => "scheduler",
            Technology::NodeAgent => "node-agent",
            Technology::Cli => "cli",
            Technology::ServiceMesh => "service-mesh",
            Technology::IngressController => "ingress-controller",
            Technology::MessageBroker => "message-broker",
            Technology::Hypervisor => "hypervisor",
            Technology::DeviceEmulation => "device-emulation",
            Technology::Sandbox => "sandbox",
            Technology::VirtualMachine => "virtual-machine",
            Technology::Hsm => "hsm",
            Technology::Kms => "kms",
            Technology::ConsensusStore => "consensus-store",
            Technology::ContainerRegistry => "container-registry",
            Technology::SourceRepository => "source-repository",
            Technology::BuildRunner => "build-runner",
            Technology::VpnGateway => "vpn-gateway",
            Technology::LogStore => "log-store",
            Technology::MediaPipeline => "media-pipeline",
            Technology::RemoteBrowser => "remote-browser",
            Technology::Other => "other",
        }
    }

    /// The element kind a technology usually has, used by importers and `tmc init`.
    pub fn default_kind(self) -> ElementKind {
        use Technology::*;
        match self {
            User | Browser | MobileApp | DesktopApp | ExternalService | PaymentProvider
            | IotDevice | VirtualMachine => ElementKind::ExternalEntity,
            Database | NosqlDatabase | VectorDatabase | SearchIndex | ObjectStorage
            | FileStorage | Cache | Queue | SecretsVault | ConsensusStore | ContainerRegistry
            | SourceRepository | LogStore => ElementKind::DataStore,
            _ => ElementKind::Process,
        }
    }
}

/// How trusted the place a component runs in is; ordered from least to most trusted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TrustZone {
    Internet,
    ThirdParty,
    Device,
    Dmz,
    Internal,
    Restricted,
}

impl TrustZone {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustZone::Internet => "internet",
            TrustZone::ThirdParty => "third-party",
            TrustZone::Device => "device",
            TrustZone::Dmz => "dmz",
            TrustZone::Internal => "internal",
            TrustZone::Restricted => "restricted",
        }
    }
}

/// A node of the data-flow diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub kind: ElementKind,
    pub technology: Technology,
    /// Where it runs; defaults to `internet` for external entities and `internal` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_zone: Option<TrustZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internet_facing: Option<bool>,
    /// Components out of scope are drawn but get no threats of their own.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_scope: bool,
    /// Written by the team (true) or bought / open source used as is (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_developed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_encoding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_at_rest: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardening: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsHandling>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_untrusted_code: Option<bool>,
    /// For object storage, search indexes and the like: readable without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access: Option<bool>,
    /// Language-model specifics; only meaningful for `llm` and `agent` technologies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelAttributes>,
    /// Device specifics; only meaningful for IoT devices and gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceAttributes>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn default_true() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

/// How a component (or a flow) authenticates its callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    pub scheme: AuthScheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    None,
    Password,
    SessionCookie,
    Oauth2,
    Oidc,
    Saml,
    Jwt,
    ApiKey,
    Mtls,
    Certificate,
    /// Cloud IAM (AWS SigV4, GCP service accounts, Azure managed identity).
    Iam,
    Kerberos,
    Basic,
    SharedSecret,
    Other,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::Password => "password",
            AuthScheme::SessionCookie => "session-cookie",
            AuthScheme::Oauth2 => "oauth2",
            AuthScheme::Oidc => "oidc",
            AuthScheme::Saml => "saml",
            AuthScheme::Jwt => "jwt",
            AuthScheme::ApiKey => "api-key",
            AuthScheme::Mtls => "mtls",
            AuthScheme::Certificate => "certificate",
            AuthScheme::Iam => "iam",
            AuthScheme::Kerberos => "kerberos",
            AuthScheme::Basic => "basic",
            AuthScheme::SharedSecret => "shared-secret",
            AuthScheme::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Authorization {
    None,
    /// Any authenticated caller may do anything.
    Authenticated,
    Rbac,
    Abac,
    Acl,
    /// Object-level ownership checks (the API1 "BOLA" control).
    OwnerCheck,
    PolicyEngine,
    Other,
}

impl Authorization {
    pub fn as_str(self) -> &'static str {
        match self {
            Authorization::None => "none",
            Authorization::Authenticated => "authenticated",
            Authorization::Rbac => "rbac",
            Authorization::Abac => "abac",
            Authorization::Acl => "acl",
            Authorization::OwnerCheck => "owner-check",
            Authorization::PolicyEngine => "policy-engine",
            Authorization::Other => "other",
        }
    }
}

/// Logging depth, ordered: each level includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Logging {
    None,
    /// Operational logs only.
    Basic,
    /// Security-relevant events with actor and time.
    Audit,
    /// Audit logs shipped off-host and protected against change.
    TamperEvident,
}

impl Logging {
    pub fn as_str(self) -> &'static str {
        match self {
            Logging::None => "none",
            Logging::Basic => "basic",
            Logging::Audit => "audit",
            Logging::TamperEvident => "tamper-evident",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SecretsHandling {
    None,
    /// Secrets in source code or images.
    Hardcoded,
    ConfigFile,
    EnvironmentVariables,
    /// A secrets manager or vault, fetched at run time.
    Vault,
    /// Hardware or cloud KMS / HSM.
    Kms,
}

impl SecretsHandling {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretsHandling::None => "none",
            SecretsHandling::Hardcoded => "hardcoded",
            SecretsHandling::ConfigFile => "config-file",
            SecretsHandling::EnvironmentVariables => "environment-variables",
            SecretsHandling::Vault => "vault",
            SecretsHandling::Kms => "kms",
        }
    }
}

/// Attributes of language-model endpoints and agents (OWASP LLM Top 10 inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelAttributes {
    /// Reads text that an outsider can influence (user chat, web pages, e-mails, documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes_untrusted_input: Option<bool>,
    /// Can call tools or take actions (agency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// A person approves consequential tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_approval: Option<bool>,
    /// Has a system prompt (which may hold instructions worth protecting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<bool>,
    /// Retrieval-augmented generation over a document store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<bool>,
    /// Model output is validated or encoded before use downstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_validation: Option<bool>,
    /// Prompt-injection or content filtering in front of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<bool>,
    /// Model weights trained or fine-tuned in-house (training-data poisoning applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_tuned: Option<bool>,
    /// Hosted by a third party (data leaves the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_party_hosted: Option<bool>,
}

/// Attributes of physical devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DeviceAttributes {
    /// An attacker can touch it (field-deployed, consumer-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physically_accessible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_updates: Option<bool>,
    /// Debug ports (JTAG, UART) disabled in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_ports_disabled: Option<bool>,
    /// Keys in a secure element / TPM rather than flash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_key_storage: Option<bool>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Restricted => "restricted",
        }
    }
}

/// A CIA rating.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Rating {
    Low,
    Medium,
    High,
    Critical,
}

/// Something worth protecting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataAsset {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub classification: Classification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<bool>,
    /// Passwords, tokens, keys, session identifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<bool>,
    /// Payment card or bank data (PCI DSS scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidentiality: Option<Rating>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Rating>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Rating>,
    /// Components (data stores) that persist it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored_in: Vec<String>,
    /// Components that process it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processed_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Http,
    Https,
    Grpc,
    Websocket,
    Graphql,
    Sql,
    Nosql,
    Amqp,
    Kafka,
    Mqtt,
    Coap,
    Smtp,
    Ssh,
    Sftp,
    Ftp,
    Ldap,
    Ldaps,
    Dns,
    Tcp,
    Udp,
    Ble,
    Ipc,
    File,
    /// Cloud-provider SDK / REST APIs (S3, KMS, Bedrock...).
    CloudApi,
    Other,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Websocket => "websocket",
            Protocol::Graphql => "graphql",
            Protocol::Sql => "sql",
            Protocol::Nosql => "nosql",
            Protocol::Amqp => "amqp",
            Protocol::Kafka => "kafka",
            Protocol::Mqtt => "mqtt",
            Protocol::Coap => "coap",
            Protocol::Smtp => "smtp",
            Protocol::Ssh => "ssh",
            Protocol::Sftp => "sftp",
            Protocol::Ftp => "ftp",
            Protocol::Ldap => "ldap",
            Protocol::Ldaps => "ldaps",
            Protocol::Dns => "dns",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Ble => "ble",
            Protocol::Ipc => "ipc",
            Protocol::File => "file",
            Protocol::CloudApi => "cloud-api",
            Protocol::Other => "other",
        }
    }
}

/// Transport protection of a flow, ordered from none to strongest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    None,
    #[serde(rename = "tls-1.0")]
    Tls10,
    #[serde(rename = "tls-1.1")]
    Tls11,
    /// Encrypted by the application (payload-level), not the transport.
    Application,
    Ssh,
    Ipsec,
    #[serde(rename = "tls-1.2")]
    Tls12,
    #[serde(rename = "tls-1.3")]
    Tls13,
}

impl Encryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Tls10 => "tls-1.0",
            Encryption::Tls11 => "tls-1.1",
            Encryption::Application => "application",
            Encryption::Ssh => "ssh",
            Encryption::Ipsec => "ipsec",
            Encryption::Tls12 => "tls-1.2",
            Encryption::Tls13 => "tls-1.3",
        }
    }

    /// Whether this protection still counts as sound today (TLS 1.0/1.1 do not).
    pub fn is_strong(self) -> bool {
        !matches!(
            self,
            Encryption::None | Encryption::Tls10 | Encryption::Tls11
        )
    }
}

/// An edge of the data-flow diagram: data moving from one component to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// How the receiver authenticates the sender on this flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Data assets sent from `from` to `to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
    /// Data assets returned from `to` to `from`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_received: Vec<String>,
    /// Both ends initiate (e.g. websockets, replication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidirectional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Flow {
    /// Display name: the declared name, else "from → to".
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{} → {}", self.from, self.to))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BoundaryKind {
    Network,
    CloudAccount,
    Vpc,
    Subnet,
    Container,
    Process,
    Tenant,
    Physical,
    Organization,
}

impl BoundaryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BoundaryKind::Network => "network",
            BoundaryKind::CloudAccount => "cloud-account",
            BoundaryKind::Vpc => "vpc",
            BoundaryKind::Subnet => "subnet",
            BoundaryKind::Container => "container",
            BoundaryKind::Process => "process",
            BoundaryKind::Tenant => "tenant",
            BoundaryKind::Physical => "physical",
            BoundaryKind::Organization => "organization",
        }
    }
}

/// A line that data crosses from one level of trust to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustBoundary {
    pub id: String,
    pub name: String,
    pub kind: BoundaryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Component ids directly inside this boundary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Ids of boundaries nested directly inside this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundaries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl SystemModel {
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    pub fn data_asset(&self, id: &str) -> Option<&DataAsset> {
        self.data.iter().find(|d| d.id == id)
    }
}

impl Component {
    /// A component with every security attribute undeclared: what an importer knows when a
    /// diagram gives only a box, a label and a shape.
    pub fn new(id: String, name: String, kind: ElementKind, technology: Technology) -> Component {
        Component {
            id,
            name,
            description: None,
            kind,
            technology,
            trust_zone: None,
            internet_facing: None,
            in_scope: true,
            custom_developed: None,
            authentication: None,
            authorization: None,
            input_validation: None,
            output_encoding: None,
            encryption_at_rest: None,
            logging: None,
            hardening: None,
            rate_limiting: None,
            backups: None,
            multi_tenant: None,
            secrets: None,
            runs_untrusted_code: None,
            public_access: None,
            model: None,
            device: None,
            tags: Vec::new(),
            notes: None,
        }
    }

    /// The declared trust zone or the default for the element kind.
    pub fn effective_trust_zone(&self) -> TrustZone {
        self.trust_zone.unwrap_or(match self.kind {
            ElementKind::ExternalEntity => TrustZone::Internet,
            _ => TrustZone::Internal,
        })
    }
}
