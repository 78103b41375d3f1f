//! Threagile YAML, so a tmc model can be fed to Threagile's own risk rules and reports.
//!
//! Threagile wants every attribute stated, where our model leaves many undeclared. Unknowns
//! get the value that lets Threagile's rules fire rather than stay silent (no authentication,
//! no encryption), matching tmc's own stance that a missing control is a finding. The output is
//! checked against Threagile's JSON schema in the tests.
//!
//! Maps are keyed by title, as Threagile requires; titles are made unique by appending the id
//! when two elements share a name.
//!
//! Review decisions travel as Threagile's `risk_tracking` (status, justification, ticket,
//! date, checked_by), attached to an individual risk per reviewed threat; see
//! [`tracking_status`] for the status mapping.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};
use tmc_model::{
    AuthScheme, Classification, Component, Criticality, DataAsset, Draft, ElementKind, Encryption,
    Flow, Protocol, Rating, Severity, Stride, SystemModel, TargetKind, TargetRef, Technology,
    Threat, ThreatStatus, TrustZone,
};

use crate::nesting::Nesting;
use crate::{ExportError, review};

pub const THREAGILE_VERSION: &str = "1.0.0";

/// Writes the Threagile model as YAML.
pub fn to_threagile(model: &SystemModel, draft: &Draft) -> Result<String, ExportError> {
    serde_saphyr::to_string(&document(model, draft)).map_err(|e| ExportError::Yaml(e.to_string()))
}

/// The Threagile model as a JSON value (what the YAML serialises).
pub fn document(model: &SystemModel, draft: &Draft) -> Value {
    let n = Nesting::new(model);
    let product = &draft.product;
    let mut tags: BTreeSet<String> = product.tags.iter().cloned().collect();
    for c in &model.components {
        tags.extend(c.tags.iter().cloned());
    }

    let mut data_assets = Map::new();
    let mut titles = HashSet::new();
    for d in &model.data {
        let title = unique_title(&mut titles, &d.name, &d.id);
        data_assets.insert(title, data_asset(d, product.owner.as_deref()));
    }

    let mut technical_assets = Map::new();
    let mut titles = HashSet::new();
    for (i, c) in model.components.iter().enumerate() {
        let title = unique_title(&mut titles, &c.name, &c.id);
        let mut asset = technical_asset(model, c, product.owner.as_deref());
        asset["communication_links"] = Value::Object(links(model, c));
        asset["diagram_tweak_order"] = json!(i);
        technical_assets.insert(title, asset);
    }

    let mut boundaries = Map::new();
    let mut titles = HashSet::new();
    for (bi, b) in model.trust_boundaries.iter().enumerate() {
        let title = unique_title(&mut titles, &b.name, &b.id);
        let inside: Vec<&str> = n.members[bi]
            .iter()
            .map(|&ci| model.components[ci].id.as_str())
            .collect();
        let nested: Vec<&str> = n.children[bi]
            .iter()
            .map(|&c| model.trust_boundaries[c].id.as_str())
            .collect();
        boundaries.insert(
            title,
            json!({
                "id": b.id,
                "description": b.description.clone().unwrap_or_else(|| b.name.clone()),
                "type": boundary_type(b.kind),
                "tags": [],
                "technical_assets_inside": inside,
                "trust_boundaries_nested": nested,
            }),
        );
    }

    let reviewed = reviewed_risks(model, draft);
    json!({
        "threagile_version": THREAGILE_VERSION,
        "title": product.name,
        "author": { "name": product.owner.clone().unwrap_or_else(|| "tmc".to_string()) },
        "management_summary_comment": format!(
            "Exported by {} {} from a draft with {} threats.",
            draft.generator.tool, draft.generator.version, draft.threats.len()
        ),
        "business_criticality": criticality(product.business_criticality),
        "business_overview": {
            "description": product.description.clone().unwrap_or_default().trim(),
            "images": [],
        },
        "technical_overview": {
            "description": model.notes.clone().unwrap_or_default().trim(),
            "images": [],
        },
        "questions": {},
        "abuse_cases": {},
        "security_requirements": {},
        "tags_available": tags.into_iter().collect::<Vec<_>>(),
        "data_assets": data_assets,
        "technical_assets": technical_assets,
        "trust_boundaries": boundaries,
        "shared_runtimes": {},
        "individual_risk_categories": reviewed.categories,
        "risk_tracking": reviewed.tracking,
    })
}

/// Reviewed threats as Threagile sees them: one individual risk category per threat, holding
/// one risk, and a `risk_tracking` entry keyed by that risk's synthetic id.
struct Reviewed {
    categories: Map<String, Value>,
    tracking: Map<String, Value>,
}

/// Threagile's tracking status for a review status.
pub fn tracking_status(s: ThreatStatus) -> &'static str {
    match s {
        ThreatStatus::Draft => "unchecked",
        ThreatStatus::Open => "in-discussion",
        ThreatStatus::Accepted | ThreatStatus::Transferred => "accepted",
        ThreatStatus::Mitigated | ThreatStatus::Avoided => "mitigated",
        ThreatStatus::NotApplicable => "false-positive",
    }
}

/// Threagile only applies a `risk_tracking` entry to a risk it knows (and by default refuses
/// a model whose tracking names an unknown risk), and tmc's threats are not among its built-in
/// rules. So each reviewed threat becomes an individual risk category with one risk whose
/// synthetic id (`<category id>@<most relevant asset>`) is the tracking key. A single most
/// relevant element keeps that id independent of the order Threagile joins the parts in: the
/// component, the receiving component of a flow, the data asset or the trust boundary.
fn reviewed_risks(model: &SystemModel, draft: &Draft) -> Reviewed {
    let mut categories = Map::new();
    let mut tracking = Map::new();
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    // Drafts without review export exactly as before: no individual risks, no tracking.
    for t in draft.threats.iter().filter(|t| review::is_reviewed(t)) {
        let id = slug(&t.id);
        let base = if id.starts_with("tmc-") {
            id
        } else {
            format!("tmc-{id}")
        };
        let mut cid = base.clone();
        let mut k = 2;
        while !ids.insert(cid.clone()) {
            cid = format!("{base}-{k}");
            k += 1;
        }
        let mut risk = json!({
            "severity": threagile_severity(t.severity.level),
            "exploitation_likelihood": match t.severity.likelihood {
                0..=2 => "unlikely",
                3 => "likely",
                4 => "very-likely",
                _ => "frequent",
            },
            "exploitation_impact": match t.severity.impact {
                0..=2 => "low",
                3 => "medium",
                4 => "high",
                _ => "very-high",
            },
            "data_breach_probability": if t.stride.contains(&Stride::InformationDisclosure) {
                "possible"
            } else {
                "improbable"
            },
            "data_breach_technical_assets": [],
        });
        let mut synthetic = cid.clone();
        if let Some((field, id)) = t.targets.iter().find_map(|tg| most_relevant(model, tg)) {
            risk[field] = json!(id);
            synthetic.push('@');
            synthetic.push_str(&id);
        }
        let mitigation = t
            .mitigations
            .iter()
            .map(review::mitigation_line)
            .collect::<Vec<_>>()
            .join("; ");
        let asvs: Vec<&str> = t
            .mitigations
            .iter()
            .flat_map(|m| m.asvs.iter().map(String::as_str))
            .collect();
        let mut risks = Map::new();
        risks.insert(t.title.clone(), risk);
        let title = unique_title(&mut titles, &t.title, &t.id);
        categories.insert(
            title,
            json!({
                "id": cid,
                "description": t.description,
                "impact": format!("Severity {} (likelihood {} × impact {}).", t.severity.level.as_str(), t.severity.likelihood, t.severity.impact),
                "asvs": asvs.join(", "),
                "cheat_sheet": "",
                "action": "Threat from the tmc threat model",
                "mitigation": mitigation,
                "check": "",
                "function": "architecture",
                "stride": t.stride.first().map_or("tampering", |s| stride_name(*s)),
                "detection_logic": format!("tmc threat `{}` ({}).", t.id, crate::text::provenance(&t.provenance)),
                "risk_assessment": format!("Severity {} in tmc.", t.severity.level.as_str()),
                "false_positives": "",
                "model_failure_possible_reason": false,
                "cwe": t.references.cwe.first().copied().unwrap_or(0),
                "risks_identified": risks,
            }),
        );
        tracking.insert(synthetic, tracking_entry(t));
    }
    Reviewed {
        categories,
        tracking,
    }
}

fn tracking_entry(t: &Threat) -> Value {
    let r = t.review.as_ref();
    let mut justification = r
        .and_then(|r| r.justification.clone())
        .unwrap_or_else(|| format!("Status {} in the tmc review.", t.status.as_str()));
    // Threagile has no "transferred" or "avoided": say which it was.
    match t.status {
        ThreatStatus::Transferred if !justification.starts_with("Status ") => {
            justification = format!("Transferred: {justification}");
        }
        ThreatStatus::Avoided if !justification.starts_with("Status ") => {
            justification = format!("Avoided: {justification}");
        }
        _ => {}
    }
    if let Some(e) = r.and_then(|r| r.expires.as_deref()) {
        justification.push_str(&format!(" (expires {e})"));
    }
    let tickets: Vec<&str> = r
        .map(|r| r.tickets.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // Threagile wants a date (YYYY-MM-DD); the review stores an RFC 3339 time.
    let date = r
        .and_then(|r| r.reviewed_at.as_deref())
        .and_then(|at| at.get(..10))
        .filter(|d| {
            d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
        });
    json!({
        "status": tracking_status(t.status),
        "justification": justification,
        "ticket": if tickets.is_empty() { Value::Null } else { json!(tickets.join(", ")) },
        "date": date,
        "checked_by": r.and_then(|r| r.reviewer.clone()),
    })
}

/// The `most_relevant_*` field and the Threagile id of the element a target names, when the
/// model has it (a flow's threat is located at the component that receives it).
fn most_relevant(model: &SystemModel, tg: &TargetRef) -> Option<(&'static str, String)> {
    match tg.kind {
        TargetKind::Component => model
            .component(&tg.id)
            .map(|c| ("most_relevant_technical_asset", c.id.clone())),
        TargetKind::Flow => model
            .flows
            .iter()
            .find(|f| f.id == tg.id)
            .and_then(|f| model.component(&f.to))
            .map(|c| ("most_relevant_technical_asset", c.id.clone())),
        TargetKind::Data => model
            .data
            .iter()
            .find(|d| d.id == tg.id)
            .map(|d| ("most_relevant_data_asset", d.id.clone())),
        TargetKind::Boundary => model
            .trust_boundaries
            .iter()
            .find(|b| b.id == tg.id)
            .map(|b| ("most_relevant_trust_boundary", b.id.clone())),
    }
}

fn threagile_severity(s: Severity) -> &'static str {
    match s {
        Severity::Info | Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn stride_name(s: Stride) -> &'static str {
    match s {
        Stride::Spoofing => "spoofing",
        Stride::Tampering => "tampering",
        Stride::Repudiation => "repudiation",
        Stride::InformationDisclosure => "information-disclosure",
        Stride::DenialOfService => "denial-of-service",
        Stride::ElevationOfPrivilege => "elevation-of-privilege",
    }
}

/// Lower-case, dash-separated id text.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "threat".to_string()
    } else {
        out
    }
}

fn unique_title(used: &mut HashSet<String>, name: &str, id: &str) -> String {
    let name = if name.trim().is_empty() { id } else { name };
    let mut title = name.to_string();
    if !used.insert(title.clone()) {
        title = format!("{name} ({id})");
        let mut k = 2;
        while !used.insert(title.clone()) {
            title = format!("{name} ({id} {k})");
            k += 1;
        }
    }
    title
}

fn criticality(c: Option<Criticality>) -> &'static str {
    match c {
        Some(Criticality::Low) => "operational",
        None | Some(Criticality::Medium) => "important",
        Some(Criticality::High) => "critical",
        Some(Criticality::MissionCritical) => "mission-critical",
    }
}

fn confidentiality(c: Classification) -> &'static str {
    match c {
        Classification::Public => "public",
        Classification::Internal => "internal",
        Classification::Confidential => "confidential",
        Classification::Restricted => "strictly-confidential",
    }
}

fn rating(r: Rating) -> &'static str {
    match r {
        Rating::Low => "operational",
        Rating::Medium => "important",
        Rating::High => "critical",
        Rating::Critical => "mission-critical",
    }
}

/// Integrity/availability when the model does not rate them: follow the classification, since
/// data worth keeping secret is usually worth keeping correct and available too.
fn default_rating(c: Classification) -> Rating {
    match c {
        Classification::Public => Rating::Low,
        Classification::Internal => Rating::Medium,
        Classification::Confidential => Rating::High,
        Classification::Restricted => Rating::Critical,
    }
}

fn data_asset(d: &DataAsset, owner: Option<&str>) -> Value {
    let mut tags = Vec::new();
    for (flag, tag) in [
        (d.pii, "pii"),
        (d.credentials, "credentials"),
        (d.financial, "financial"),
    ] {
        if flag == Some(true) {
            tags.push(tag);
        }
    }
    let conf = match d.confidentiality {
        // An explicit rating above the classification wins.
        Some(Rating::Critical) => "strictly-confidential",
        _ => confidentiality(d.classification),
    };
    json!({
        "id": d.id,
        "description": d.description.clone().unwrap_or_else(|| d.name.clone()),
        "usage": if d.credentials == Some(true) { "devops" } else { "business" },
        "tags": tags,
        "origin": "",
        "owner": owner.unwrap_or(""),
        "quantity": "many",
        "confidentiality": conf,
        "integrity": rating(d.integrity.unwrap_or_else(|| default_rating(d.classification))),
        "availability": rating(d.availability.unwrap_or_else(|| default_rating(d.classification))),
        "justification_cia_rating": format!("tmc classification `{}`.", d.classification.as_str()),
    })
}

fn technology(t: Technology) -> &'static str {
    use Technology::*;
    match t {
        User => "client-system",
        Browser => "browser",
        MobileApp => "mobile-app",
        DesktopApp => "desktop",
        WebApp => "web-application",
        ApiService | PaymentProvider | ExternalService => "web-service-rest",
        ApiGateway | IotGateway => "gateway",
        Worker => "application-server",
        ServerlessFunction => "function",
        BatchJob => "batch-processing",
        Database | NosqlDatabase | VectorDatabase | Cache => "database",
        SearchIndex => "search-index",
        ObjectStorage | FileStorage => "file-server",
        Queue => "message-queue",
        IdentityProvider => "identity-provider",
        SecretsVault => "vault",
        LoadBalancer => "load-balancer",
        Waf => "waf",
        Cdn => "reverse-proxy",
        Llm | Agent => "ai",
        IotDevice => "iot-device",
        ContainerPlatform => "container-platform",
        CiCd => "build-pipeline",
        Monitoring => "monitoring",
        EmailService => "mail-server",
        OrchestratorApi | Controller | AdmissionWebhook | NodeAgent => "container-platform",
        Scheduler => "scheduler",
        Cli => "cli",
        ServiceMesh => "service-mesh",
        IngressController => "reverse-proxy",
        MessageBroker => "message-queue",
        Hypervisor | DeviceEmulation | Sandbox | VirtualMachine => "application-server",
        Hsm => "hsm",
        Kms => "vault",
        ConsensusStore => "database",
        ContainerRegistry => "artifact-registry",
        SourceRepository => "sourcecode-repository",
        BuildRunner => "build-pipeline",
        VpnGateway => "gateway",
        LogStore => "monitoring",
        MediaPipeline => "stream-processing",
        RemoteBrowser => "browser",
        Other => "unknown-technology",
    }
}

fn is_human_client(t: Technology) -> bool {
    matches!(
        t,
        Technology::User | Technology::Browser | Technology::MobileApp | Technology::DesktopApp
    )
}

fn technical_asset(model: &SystemModel, c: &Component, owner: Option<&str>) -> Value {
    use Technology::*;
    let processed: Vec<&DataAsset> = model
        .data
        .iter()
        .filter(|d| {
            d.processed_by.contains(&c.id)
                || d.stored_in.contains(&c.id)
                || model.flows.iter().any(|f| {
                    (f.from == c.id || f.to == c.id)
                        && (f.data.contains(&d.id) || f.data_received.contains(&d.id))
                })
        })
        .collect();
    let stored: Vec<&str> = model
        .data
        .iter()
        .filter(|d| d.stored_in.contains(&c.id))
        .map(|d| d.id.as_str())
        .collect();
    let class = processed
        .iter()
        .map(|d| d.classification)
        .max()
        .unwrap_or(Classification::Internal);
    let max_rating = |f: &dyn Fn(&DataAsset) -> Option<Rating>| {
        processed
            .iter()
            .map(|d| f(d).unwrap_or_else(|| default_rating(d.classification)))
            .max()
            .unwrap_or(Rating::Medium)
    };
    let kind = match c.kind {
        ElementKind::ExternalEntity => "external-entity",
        ElementKind::Process => "process",
        ElementKind::DataStore => "datastore",
    };
    let size = match c.kind {
        ElementKind::ExternalEntity => "system",
        ElementKind::DataStore => "component",
        ElementKind::Process => match c.technology {
            WebApp | ApiService | MobileApp | DesktopApp | Agent => "application",
            _ => "service",
        },
    };
    let machine = match c.technology {
        ServerlessFunction => "serverless",
        ContainerPlatform => "container",
        User | Browser | MobileApp | DesktopApp | IotDevice => "physical",
        _ => "virtual",
    };
    let usage = match c.technology {
        CiCd | Monitoring | ContainerPlatform | SecretsVault => "devops",
        _ => "business",
    };
    let internet =
        c.internet_facing == Some(true) || c.effective_trust_zone() == TrustZone::Internet;
    let mut tags = c.tags.clone();
    tags.sort();
    tags.dedup();
    let mut v = json!({
        "id": c.id,
        "description": c.description.clone().unwrap_or_else(|| c.name.clone()),
        "type": kind,
        "usage": usage,
        "used_as_client_by_human": is_human_client(c.technology),
        "out_of_scope": !c.in_scope,
        "size": size,
        "technology": technology(c.technology),
        "tags": tags,
        "internet": internet,
        "machine": machine,
        "encryption": if c.encryption_at_rest == Some(true) { "transparent" } else { "none" },
        "owner": owner.unwrap_or(""),
        "confidentiality": confidentiality(class),
        "integrity": rating(max_rating(&|d| d.integrity)),
        "availability": rating(max_rating(&|d| d.availability)),
        "justification_cia_rating": "Highest rating of the data assets it processes or stores.",
        "multi_tenant": c.multi_tenant == Some(true),
        "redundant": false,
        "custom_developed_parts": c.custom_developed == Some(true),
        "data_assets_processed": processed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        "data_assets_stored": stored,
        "data_formats_accepted": [],
    });
    if !c.in_scope {
        v["justification_out_of_scope"] = json!("Out of scope in the tmc model.");
    }
    v
}

fn links(model: &SystemModel, c: &Component) -> Map<String, Value> {
    let mut out = Map::new();
    let mut titles = HashSet::new();
    for f in model.flows.iter().filter(|f| f.from == c.id) {
        if model.component(&f.to).is_none() {
            continue;
        }
        let title = unique_title(&mut titles, &f.display_name(), &f.id);
        out.insert(title, link(c, f));
    }
    out
}

fn link(source: &Component, f: &Flow) -> Value {
    let authentication = match f.authentication {
        None | Some(AuthScheme::None) => "none",
        Some(AuthScheme::SessionCookie) => "session-id",
        Some(AuthScheme::Oauth2 | AuthScheme::Jwt | AuthScheme::ApiKey | AuthScheme::Iam) => {
            "token"
        }
        Some(AuthScheme::Oidc | AuthScheme::Saml | AuthScheme::Kerberos) => "externalized",
        Some(AuthScheme::Mtls | AuthScheme::Certificate) => "client-certificate",
        Some(
            AuthScheme::Password | AuthScheme::Basic | AuthScheme::SharedSecret | AuthScheme::Other,
        ) => "credentials",
    };
    let authorization = if authentication == "none" {
        "none"
    } else if is_human_client(source.technology) {
        "end-user-identity-propagation"
    } else {
        "technical-user"
    };
    let usage = match source.technology {
        Technology::CiCd | Technology::Monitoring => "devops",
        _ => "business",
    };
    json!({
        "target": f.to,
        "description": f.description.clone().unwrap_or_else(|| f.display_name()),
        "protocol": protocol(f.protocol, f.encryption),
        "authentication": authentication,
        "authorization": authorization,
        "tags": [],
        "vpn": f.encryption == Some(Encryption::Ipsec),
        "ip_filtered": false,
        "readonly": f.data.is_empty() && !f.data_received.is_empty(),
        "usage": usage,
        "data_assets_sent": f.data,
        "data_assets_received": f.data_received,
    })
}

fn protocol(p: Option<Protocol>, e: Option<Encryption>) -> &'static str {
    let enc = e.is_some_and(|e| e != Encryption::None);
    let pick = |plain: &'static str, secure: &'static str| if enc { secure } else { plain };
    match p {
        None | Some(Protocol::Other) => "unknown-protocol",
        Some(Protocol::Http) => pick("http", "https"),
        Some(Protocol::Https | Protocol::Graphql | Protocol::CloudApi) => {
            if e == Some(Encryption::None) {
                "http"
            } else {
                "https"
            }
        }
        Some(Protocol::Websocket) => pick("ws", "wss"),
        Some(Protocol::Grpc | Protocol::Amqp | Protocol::Kafka | Protocol::Coap) => {
            pick("binary", "binary-encrypted")
        }
        Some(Protocol::Tcp | Protocol::Udp | Protocol::Ble | Protocol::Dns) => {
            pick("binary", "binary-encrypted")
        }
        Some(Protocol::Sql) => pick("sql-access-protocol", "sql-access-protocol-encrypted"),
        Some(Protocol::Nosql) => pick("nosql-access-protocol", "nosql-access-protocol-encrypted"),
        Some(Protocol::Mqtt) => "mqtt",
        Some(Protocol::Smtp) => pick("smtp", "smtp-encrypted"),
        Some(Protocol::Ssh) => "ssh",
        Some(Protocol::Sftp) => "sftp",
        Some(Protocol::Ftp) => pick("ftp", "ftps"),
        Some(Protocol::Ldap) => pick("ldap", "ldaps"),
        Some(Protocol::Ldaps) => "ldaps",
        Some(Protocol::Ipc) => "inter-process-communication",
        Some(Protocol::File) => "local-file-access",
    }
}

fn boundary_type(k: tmc_model::BoundaryKind) -> &'static str {
    use tmc_model::BoundaryKind::*;
    match k {
        Network | Physical | Organization => "network-on-prem",
        CloudAccount => "network-cloud-provider",
        Vpc => "network-virtual-lan",
        Subnet => "network-cloud-security-group",
        Container | Process => "execution-environment",
        Tenant => "network-policy-namespace-isolation",
    }
}
