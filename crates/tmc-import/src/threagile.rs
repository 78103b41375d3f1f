//! Threagile YAML models → system model + threats.
//!
//! Threagile's model is already an asset graph: technical assets (our components), their
//! communication links (our flows), nested trust boundaries and CIA-rated data assets. Its own
//! risk rules run elsewhere; what a file carries is the hand-written risks of
//! `individual_risk_categories` (`custom_risk_categories` in newer versions) and the reviewers'
//! `risk_tracking`, which we apply to those risks by Threagile's synthetic risk ids.

use std::collections::HashMap;

use serde_json::Value;
use tmc_model::{
    AuthScheme, BoundaryKind, Classification, Criticality, DataAsset, ElementKind, Encryption,
    Mitigation, MitigationStatus, Protocol, Rating, References, Severity, TargetKind, Technology,
    ThreatStatus, TrustZone,
};

use crate::builder::{
    Builder, ThreatParts, arr, check_size, flag, kind_of, malformed, mitigation, one_line,
    parse_stride, ptr, scalar_text, scored, text,
};
use crate::{ImportError, ImportResult};

const FORMAT: &str = "threagile";

/// Reads a Threagile YAML model.
pub fn import(bytes: &[u8]) -> Result<ImportResult, ImportError> {
    check_size(bytes, FORMAT)?;
    // serde-saphyr's default budget bounds depth and alias expansion.
    let root: Value = serde_saphyr::from_slice(bytes).map_err(|e| {
        let at = e.location().map_or_else(
            || "/".to_string(),
            |l| format!("{}:{}", l.line(), l.column()),
        );
        malformed(FORMAT, at, format!("not valid YAML: {e}"))
    })?;
    if !root.is_object() {
        return Err(malformed(
            FORMAT,
            "/",
            format!("expected a mapping, found {}", kind_of(&root)),
        ));
    }
    if root.get("technical_assets").is_none() && root.get("threagile_version").is_none() {
        return Err(malformed(
            FORMAT,
            "/technical_assets",
            "expected a Threagile model with `technical_assets`",
        ));
    }
    let mut b = Builder::new(FORMAT);
    product(&mut b, &root)?;

    // Data assets.
    let mut data_of: HashMap<String, String> = HashMap::new();
    for (title, d, _) in entries(&root, "data_assets", "")? {
        let sid = text(d, "id").unwrap_or_else(|| title.clone());
        let id = b.alloc_id(&sid, "data");
        b.map(&id, &sid);
        let conf = text(d, "confidentiality");
        let classification = match conf.as_deref() {
            Some("public") => Classification::Public,
            Some("internal") => Classification::Internal,
            Some("restricted" | "confidential") => Classification::Confidential,
            Some("strictly-confidential") => Classification::Restricted,
            _ => {
                b.note(
                    Some(&id),
                    "confidentiality unknown; classification set to `internal`",
                );
                Classification::Internal
            }
        };
        let words = format!(
            "{} {} {}",
            title,
            text(d, "description").unwrap_or_default(),
            text(d, "justification_cia_rating").unwrap_or_default()
        )
        .to_ascii_lowercase();
        let has = |w: &[&str]| w.iter().any(|x| words.contains(x));
        b.add_data(DataAsset {
            id: id.clone(),
            name: title.clone(),
            description: text(d, "description"),
            classification,
            pii: has(&["pii", "personal", "personally identifiable"]).then_some(true),
            credentials: has(&[
                "credential",
                "password",
                "secret",
                "private key",
                "api key",
                "token",
            ])
            .then_some(true),
            financial: has(&["financial", "payment", "credit card", "bank"]).then_some(true),
            confidentiality: conf.as_deref().and_then(conf_rating),
            integrity: text(d, "integrity").as_deref().and_then(criticality_rating),
            availability: text(d, "availability")
                .as_deref()
                .and_then(criticality_rating),
            stored_in: Vec::new(),
            processed_by: Vec::new(),
            notes: text(d, "justification_cia_rating"),
        });
        data_of.insert(sid, id);
    }

    // Technical assets.
    let assets = entries(&root, "technical_assets", "")?;
    let mut comp_of: HashMap<String, String> = HashMap::new();
    for (title, a, at) in &assets {
        let sid = text(a, "id").unwrap_or_else(|| title.clone());
        let id = b.alloc_id(&sid, "component");
        b.map(&id, &sid);
        let kind = match text(a, "type").as_deref() {
            Some("external-entity") => ElementKind::ExternalEntity,
            Some("datastore") => ElementKind::DataStore,
            Some("process") => ElementKind::Process,
            other => {
                b.note(
                    Some(&id),
                    format!(
                        "type {:?} not recognised; kind `process` assumed",
                        other.unwrap_or("")
                    ),
                );
                ElementKind::Process
            }
        };
        let tech_label = text(a, "technology").or_else(|| {
            a.get("technologies")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(scalar_text)
        });
        let technology = match tech_label.as_deref().and_then(technology) {
            Some(t) => t,
            None => {
                b.note(
                    Some(&id),
                    format!(
                        "technology {:?} has no equivalent; set to `other`",
                        tech_label.clone().unwrap_or_default()
                    ),
                );
                Technology::Other
            }
        };
        b.push_component(&id, title.clone(), text(a, "description"), kind, technology);
        let internet = flag(a, "internet");
        let tags: Vec<String> = arr(a, "tags", FORMAT, at)?
            .iter()
            .filter_map(scalar_text)
            .collect();
        let mut notes = Vec::new();
        if let Some(j) = text(a, "justification_out_of_scope") {
            notes.push(format!("Out of scope: {j}"));
        }
        if let Some(c) = b.component_mut(&id) {
            c.internet_facing = internet;
            if kind == ElementKind::ExternalEntity && internet == Some(true) {
                c.trust_zone = Some(TrustZone::Internet);
            }
            c.in_scope = flag(a, "out_of_scope") != Some(true);
            c.custom_developed = flag(a, "custom_developed_parts");
            c.multi_tenant = flag(a, "multi_tenant");
            if kind == ElementKind::DataStore {
                c.encryption_at_rest = text(a, "encryption").map(|e| e != "none");
            }
            c.tags = tags;
            if !notes.is_empty() {
                c.notes = Some(notes.join("\n"));
            }
        }
        for (key, stored) in [
            ("data_assets_processed", false),
            ("data_assets_stored", true),
        ] {
            for d in arr(a, key, FORMAT, at)?.iter().filter_map(scalar_text) {
                match data_of.get(&d).cloned() {
                    Some(did) => {
                        if let Some(da) = b.model.data.iter_mut().find(|x| x.id == did) {
                            let list = if stored {
                                &mut da.stored_in
                            } else {
                                &mut da.processed_by
                            };
                            if !list.contains(&id) {
                                list.push(id.clone());
                            }
                        }
                    }
                    None => b.note(Some(&id), format!("{key} names undefined data asset `{d}`")),
                }
            }
        }
        comp_of.insert(sid, id);
    }

    // Communication links (need every asset known first).
    let mut flow_of: HashMap<String, String> = HashMap::new();
    for (title, a, at) in &assets {
        let sid = text(a, "id").unwrap_or_else(|| title.clone());
        let Some(from) = comp_of.get(&sid).cloned() else {
            continue;
        };
        for (ltitle, l, lat) in entries(a, "communication_links", at)? {
            let source_link = format!("{sid}>{}", ltitle.to_lowercase().replace(' ', "-"));
            let Some(target) = text(l, "target") else {
                return Err(malformed(
                    FORMAT,
                    ptr(&lat, "target"),
                    "expected the id of the target asset",
                ));
            };
            let Some(to) = comp_of.get(&target).cloned() else {
                b.note(
                    Some(&from),
                    format!(
                        "link \"{ltitle}\" skipped: target `{target}` is not a technical asset"
                    ),
                );
                continue;
            };
            let id = b.alloc_id(&format!("{sid}-{ltitle}"), "flow");
            b.map(&id, &source_link);
            let proto_label = text(l, "protocol").unwrap_or_default();
            let (protocol, encryption) = protocol(&proto_label);
            let auth = text(l, "authentication");
            let authentication = auth.as_deref().and_then(|a| match a {
                "none" => Some(AuthScheme::None),
                "credentials" => Some(AuthScheme::Password),
                "session-id" => Some(AuthScheme::SessionCookie),
                "client-certificate" => Some(AuthScheme::Mtls),
                "token" | "two-factor" | "externalized" => Some(AuthScheme::Other),
                _ => None,
            });
            let mut data = Vec::new();
            let mut data_received = Vec::new();
            for (key, list) in [
                ("data_assets_sent", &mut data),
                ("data_assets_received", &mut data_received),
            ] {
                for d in arr(l, key, FORMAT, &lat)?.iter().filter_map(scalar_text) {
                    match data_of.get(&d) {
                        Some(did) if !list.contains(did) => list.push(did.clone()),
                        Some(_) => {}
                        None => {
                            b.note(Some(&id), format!("{key} names undefined data asset `{d}`"))
                        }
                    }
                }
            }
            let mut notes = Vec::new();
            if let Some(z) = text(l, "authorization") {
                notes.push(format!("Authorization: {z}."));
            }
            if flag(l, "vpn") == Some(true) {
                notes.push("Runs over a VPN.".to_string());
            }
            if flag(l, "ip_filtered") == Some(true) {
                notes.push("IP-filtered.".to_string());
            }
            if flag(l, "readonly") == Some(true) {
                notes.push("Read-only.".to_string());
            }
            b.model.flows.push(tmc_model::Flow {
                id: id.clone(),
                name: Some(ltitle.clone()),
                from: from.clone(),
                to,
                protocol,
                port: None,
                authentication,
                encryption,
                data,
                data_received,
                bidirectional: None,
                description: text(l, "description"),
                notes: (!notes.is_empty()).then(|| notes.join(" ")),
            });
            match protocol {
                None => b.note(Some(&id), format!("protocol {proto_label:?} unknown")),
                Some(Protocol::Other) => b.note(
                    Some(&id),
                    format!("protocol \"{proto_label}\" has no equivalent; set to `other`"),
                ),
                _ => {}
            }
            if matches!(encryption, Some(Encryption::Tls12)) {
                b.note(
                    Some(&id),
                    format!(
                        "\"{proto_label}\" is encrypted but names no TLS version; `tls-1.2` assumed"
                    ),
                );
            }
            if matches!(authentication, Some(AuthScheme::Other)) {
                b.note(
                    Some(&id),
                    format!(
                        "authentication \"{}\" mapped to `other`",
                        auth.unwrap_or_default()
                    ),
                );
            }
            flow_of.insert(source_link, id);
        }
    }

    // Trust boundaries, then their nesting.
    let boundaries = entries(&root, "trust_boundaries", "")?;
    let mut boundary_of: HashMap<String, String> = HashMap::new();
    for (title, tb, at) in &boundaries {
        let sid = text(tb, "id").unwrap_or_else(|| title.clone());
        let ty = text(tb, "type").unwrap_or_default();
        let id = b.add_boundary(&sid, Some(&sid), title.clone(), &format!("{ty} {title}"));
        let kind = match ty.as_str() {
            "network-on-prem" | "network-dedicated-hoster" => Some(BoundaryKind::Network),
            "network-virtual-lan" => Some(BoundaryKind::Subnet),
            "network-cloud-provider" => Some(BoundaryKind::CloudAccount),
            "network-cloud-security-group" => Some(BoundaryKind::Subnet),
            "network-policy-namespace-isolation" => Some(BoundaryKind::Container),
            "execution-environment" => Some(BoundaryKind::Process),
            _ => None,
        };
        let description = text(tb, "description");
        if let Some(bd) = b.boundary_mut(&id) {
            if let Some(k) = kind {
                bd.kind = k;
            }
            bd.description = description;
        }
        if kind.is_some() {
            b.notes.retain(|n| {
                !(n.element.as_deref() == Some(id.as_str())
                    && n.message.starts_with("boundary kind unknown"))
            });
        }
        for a in arr(tb, "technical_assets_inside", FORMAT, at)?
            .iter()
            .filter_map(scalar_text)
        {
            match comp_of.get(&a).cloned() {
                Some(cid) => b.add_member(&id, &cid),
                None => b.note(
                    Some(&id),
                    format!("contains undefined technical asset `{a}`"),
                ),
            }
        }
        boundary_of.insert(sid, id);
    }
    for (title, tb, at) in &boundaries {
        let sid = text(tb, "id").unwrap_or_else(|| title.clone());
        let Some(parent) = boundary_of.get(&sid).cloned() else {
            continue;
        };
        for child in arr(tb, "trust_boundaries_nested", FORMAT, at)?
            .iter()
            .filter_map(scalar_text)
        {
            match boundary_of.get(&child).cloned() {
                Some(c) => b.nest_boundary(&parent, &c),
                None => b.note(
                    Some(&parent),
                    format!("nests undefined trust boundary `{child}`"),
                ),
            }
        }
    }
    let runtimes: Vec<String> = entries(&root, "shared_runtimes", "")?
        .into_iter()
        .map(|(t, r, _)| {
            let inside: Vec<String> = r
                .get("technical_assets_running")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(scalar_text)
                .collect();
            format!("Shared runtime \"{t}\" runs: {}.", inside.join(", "))
        })
        .collect();
    for r in runtimes {
        b.add_model_note(&r);
    }

    // Tracking first, so statuses apply as risks are read.
    let mut tracking = Vec::new();
    for (key, t, _) in entries(&root, "risk_tracking", "")? {
        tracking.push((
            key,
            text(t, "status").unwrap_or_default(),
            text(t, "justification"),
        ));
    }
    let boundary_map = boundary_of.clone();
    let mut used_tracking = vec![false; tracking.len()];
    for section in ["individual_risk_categories", "custom_risk_categories"] {
        for (ctitle, cat, cat_at) in entries(&root, section, "")? {
            let cid = text(cat, "id").unwrap_or_else(|| ctitle.clone());
            let stride: Vec<_> = text(cat, "stride")
                .and_then(|s| parse_stride(&s))
                .into_iter()
                .collect();
            let mut references = References::default();
            if let Some(cwe) = cat
                .get("cwe")
                .and_then(scalar_text)
                .and_then(|c| c.trim_start_matches("CWE-").parse().ok())
            {
                references.cwe.push(cwe);
            }
            let mut description = text(cat, "description").unwrap_or_else(|| ctitle.clone());
            if let Some(i) = text(cat, "impact") {
                description.push_str(&format!("\n\nImpact: {i}"));
            }
            let mitigation_text = text(cat, "mitigation").or_else(|| text(cat, "action"));
            let asvs: Vec<String> = text(cat, "asvs")
                .and_then(|a| a.split_whitespace().next().map(str::to_string))
                .filter(|a| {
                    a.starts_with('V')
                        && a[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
                        && a.len() > 1
                })
                .into_iter()
                .collect();
            for (rtitle, r, _) in entries(cat, "risks_identified", &cat_at)? {
                let parts = [
                    "most_relevant_data_asset",
                    "most_relevant_technical_asset",
                    "most_relevant_communication_link",
                    "most_relevant_trust_boundary",
                    "most_relevant_shared_runtime",
                ]
                .map(|k| text(r, k));
                let mut synthetic = cid.clone();
                for p in parts.iter().flatten() {
                    synthetic.push('@');
                    synthetic.push_str(p);
                }
                let mut targets = Vec::new();
                let lookups = [
                    (
                        TargetKind::Data,
                        parts[0].as_ref().and_then(|p| data_of.get(p)),
                    ),
                    (
                        TargetKind::Component,
                        parts[1].as_ref().and_then(|p| comp_of.get(p)),
                    ),
                    (
                        TargetKind::Flow,
                        parts[2].as_ref().and_then(|p| flow_of.get(p)),
                    ),
                    (
                        TargetKind::Boundary,
                        parts[3].as_ref().and_then(|p| boundary_map.get(p)),
                    ),
                ];
                for (kind, id) in lookups {
                    if let Some(t) = id.and_then(|id| b.target(kind, id)) {
                        targets.push(t);
                    }
                }
                if targets.is_empty() {
                    b.note(
                        None,
                        format!("risk {synthetic} names no known asset, link or boundary"),
                    );
                }
                let level = text(r, "severity").as_deref().and_then(Severity::parse);
                let l = match text(r, "exploitation_likelihood").as_deref() {
                    Some("unlikely") => 2,
                    Some("likely") => 3,
                    Some("very-likely") => 4,
                    Some("frequent") => 5,
                    _ => 0,
                };
                let im = match text(r, "exploitation_impact").as_deref() {
                    Some("low") => 2,
                    Some("medium") => 3,
                    Some("high") => 4,
                    Some("very-high") => 5,
                    _ => 0,
                };
                let severity = if l > 0 && im > 0 {
                    scored(l, im, level)
                } else {
                    if level.is_none() {
                        b.note(
                            None,
                            format!("risk {synthetic}: severity unknown; set to medium"),
                        );
                    }
                    crate::builder::level_only(level.unwrap_or(Severity::Medium))
                };
                // A risk without a tracking entry is what Threagile calls unchecked.
                let mut status = ThreatStatus::Draft;
                let mut mit_status = MitigationStatus::Proposed;
                if let Some(i) = tracking
                    .iter()
                    .position(|(k, _, _)| tracking_matches(k, &synthetic))
                {
                    used_tracking[i] = true;
                    let (_, st, _) = &tracking[i];
                    (status, mit_status) = match st.as_str() {
                        "mitigated" => (ThreatStatus::Mitigated, MitigationStatus::Implemented),
                        "false-positive" => {
                            (ThreatStatus::NotApplicable, MitigationStatus::NotApplicable)
                        }
                        "accepted" => (ThreatStatus::Accepted, MitigationStatus::Proposed),
                        "in-discussion" | "in-progress" => {
                            (ThreatStatus::Open, MitigationStatus::InProgress)
                        }
                        _ => (ThreatStatus::Draft, MitigationStatus::Proposed),
                    };
                }
                let mitigations: Vec<Mitigation> = mitigation_text
                    .iter()
                    .map(|m| {
                        let mut m = mitigation("mitigation-1".to_string(), m.clone(), mit_status);
                        m.asvs = asvs.clone();
                        m
                    })
                    .collect();
                b.push_threat(
                    &synthetic,
                    ThreatParts {
                        title: strip_tags(&rtitle),
                        description: description.clone(),
                        stride: stride.clone(),
                        targets,
                        references: references.clone(),
                        severity,
                        mitigations,
                        status,
                    },
                );
            }
        }
    }
    let unused = used_tracking.iter().filter(|u| !**u).count();
    if unused > 0 {
        b.note(
            None,
            format!("{unused} risk_tracking entries refer to risks Threagile's built-in rules generate; they are not in the file and were not imported"),
        );
    }
    Ok(b.finish())
}

fn product(b: &mut Builder, root: &Value) -> Result<(), ImportError> {
    let p = &mut b.model.product;
    p.name = text(root, "title").unwrap_or_else(|| "Imported Threagile model".to_string());
    p.owner = root.get("author").and_then(|a| text(a, "name"));
    p.business_criticality = text(root, "business_criticality").and_then(|c| match c.as_str() {
        "archive" | "operational" => Some(Criticality::Low),
        "important" => Some(Criticality::Medium),
        "critical" => Some(Criticality::High),
        "mission-critical" => Some(Criticality::MissionCritical),
        _ => None,
    });
    let overview = |k: &str| root.get(k).and_then(|o| text(o, "description"));
    p.description = overview("application_description").or_else(|| overview("business_overview"));
    if let Some(t) = overview("technical_overview") {
        b.add_model_note(&format!("Technical overview: {t}"));
    }
    if let Some(m) = text(root, "management_summary_comment") {
        b.add_model_note(&m);
    }
    for (key, heading) in [
        ("security_requirements", "Security requirements"),
        ("abuse_cases", "Abuse cases"),
        ("questions", "Open questions"),
    ] {
        let items: Vec<String> = entries(root, key, "")?
            .into_iter()
            .map(|(k, v, _)| match scalar_text(v) {
                Some(v) => format!("- {k}: {}", one_line(&v)),
                None => format!("- {k}"),
            })
            .collect();
        if !items.is_empty() {
            b.add_model_note(&format!("{heading}:\n{}", items.join("\n")));
        }
    }
    Ok(())
}

/// A YAML mapping's entries with their pointers; missing or null is empty.
fn entries<'a>(
    v: &'a Value,
    key: &str,
    at: &str,
) -> Result<Vec<(String, &'a Value, String)>, ImportError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| (k.clone(), v, ptr(&ptr(at, key), k)))
            .collect()),
        Some(other) => Err(malformed(
            FORMAT,
            ptr(at, key),
            format!("expected a mapping, found {}", kind_of(other)),
        )),
    }
}

/// Threagile's wildcard tracking keys: `*` matches one `@`-separated part.
fn tracking_matches(key: &str, id: &str) -> bool {
    let k: Vec<&str> = key.split('@').collect();
    let i: Vec<&str> = id.split('@').collect();
    k.len() == i.len() && k.iter().zip(&i).all(|(a, b)| *a == "*" || a == b)
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    one_line(&out)
}

fn technology(label: &str) -> Option<Technology> {
    use Technology::*;
    Some(match label {
        "client-system" | "desktop" | "devops-client" | "cli" => DesktopApp,
        "browser" => Browser,
        "mobile-app" => MobileApp,
        "web-server" | "web-application" | "cms" => WebApp,
        "application-server" | "erp" | "web-service-rest" | "web-service-soap" | "ejb" => {
            ApiService
        }
        "database" | "identity-store-database" => Database,
        "file-server" | "local-file-system" | "block-storage" => FileStorage,
        "search-index" | "search-engine" => SearchIndex,
        "reverse-proxy" | "load-balancer" => LoadBalancer,
        "build-pipeline"
        | "sourcecode-repository"
        | "artifact-registry"
        | "code-inspection-platform" => CiCd,
        "monitoring" | "ids" => Monitoring,
        "ldap-server" | "identity-provider" | "identity-store-ldap" => IdentityProvider,
        "container-platform" => ContainerPlatform,
        "batch-processing" | "task" | "scheduler" => BatchJob,
        "event-listener" | "stream-processing" | "report-engine" => Worker,
        "function" => ServerlessFunction,
        "gateway" => ApiGateway,
        "iot-device" => IotDevice,
        "message-queue" => Queue,
        "data-lake" => ObjectStorage,
        "ai" => Llm,
        "mail-server" => EmailService,
        "vault" | "hsm" => SecretsVault,
        "waf" | "ips" => Waf,
        _ => return None,
    })
}

/// Threagile protocol → our protocol and the transport protection the name implies.
fn protocol(label: &str) -> (Option<Protocol>, Option<Encryption>) {
    use Protocol::*;
    let tls = Some(Encryption::Tls12);
    let none = Some(Encryption::None);
    match label {
        "http" | "reverse-proxy-web-protocol" => (Some(Http), none),
        "https" | "reverse-proxy-web-protocol-encrypted" => (Some(Https), tls),
        "ws" => (Some(Websocket), none),
        "wss" => (Some(Websocket), tls),
        "mqtt" => (Some(Mqtt), None),
        "jdbc" | "odbc" | "sql-access-protocol" => (Some(Sql), none),
        "jdbc-encrypted" | "odbc-encrypted" | "sql-access-protocol-encrypted" => (Some(Sql), tls),
        "nosql-access-protocol" => (Some(Nosql), none),
        "nosql-access-protocol-encrypted" => (Some(Nosql), tls),
        "binary" | "text" => (Some(Tcp), none),
        "binary-encrypted" | "text-encrypted" => (Some(Tcp), tls),
        "ssh" | "ssh-tunnel" | "scp" => (Some(Ssh), Some(Encryption::Ssh)),
        "sftp" => (Some(Sftp), Some(Encryption::Ssh)),
        "smtp" => (Some(Smtp), none),
        "smtp-encrypted" => (Some(Smtp), tls),
        "ftp" => (Some(Ftp), none),
        "ftps" => (Some(Ftp), tls),
        "ldap" => (Some(Ldap), none),
        "ldaps" => (Some(Ldaps), tls),
        "nfs" | "smb" | "local-file-access" => (Some(File), None),
        "smb-encrypted" => (Some(File), Some(Encryption::Application)),
        "in-process-library-call" | "inter-process-communication" | "container-spawning" => {
            (Some(Ipc), None)
        }
        "pop3" | "imap" | "jms" | "nrpe" | "xmpp" | "iiop" | "jrmp" => (Some(Other), none),
        "pop3-encrypted" | "imap-encrypted" | "iiop-encrypted" | "jrmp-encrypted" => {
            (Some(Other), tls)
        }
        _ => (None, None),
    }
}

fn conf_rating(c: &str) -> Option<Rating> {
    Some(match c {
        "public" | "internal" => Rating::Low,
        "restricted" => Rating::Medium,
        "confidential" => Rating::High,
        "strictly-confidential" => Rating::Critical,
        _ => return None,
    })
}

fn criticality_rating(c: &str) -> Option<Rating> {
    Some(match c {
        "archive" | "operational" => Rating::Low,
        "important" => Rating::Medium,
        "critical" => Rating::High,
        "mission-critical" => Rating::Critical,
        _ => return None,
    })
}
