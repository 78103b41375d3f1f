//! Facts derived once per model so that rule evaluation is a table lookup, not a graph walk.
//! Building them is O(components + flows + data references); everything after is per-rule.

use std::collections::HashMap;

use tmc_model::topology::{Topology, trust_rank};
use tmc_model::{
    AuthScheme, BoundaryKind, Classification, Component, DataAsset, ElementKind, Encryption, Flow,
    Protocol, SystemModel, Technology, TrustZone,
};

/// Data-related facts shared by components and flows.
#[derive(Debug, Clone, Default)]
pub struct DataSummary {
    pub names: Vec<String>,
    pub max_classification: Option<Classification>,
    pub pii: bool,
    pub credentials: bool,
    pub financial: bool,
}

impl DataSummary {
    fn add(&mut self, d: &DataAsset) {
        if self.names.iter().any(|n| n == &d.name) {
            return;
        }
        self.names.push(d.name.clone());
        self.max_classification = self.max_classification.max(Some(d.classification));
        self.pii |= d.pii == Some(true);
        self.credentials |= d.credentials == Some(true);
        self.financial |= d.financial == Some(true);
    }
}

#[derive(Debug, Clone)]
pub struct ComponentFacts<'m> {
    pub component: &'m Component,
    pub zone: TrustZone,
    /// Accepts connections from the internet: something in an untrusted zone (the internet
    /// zone, or an external entity of the third-party zone or below) *initiates* a flow to it,
    /// or it is declared `internet_facing` and the flows do not say otherwise (it has inbound
    /// flows, or none at all). A component that only initiates flows is never exposed, whatever
    /// its zone: flows go from the initiator to the listener. A `cli` and a component with a
    /// `kernel` interface are never exposed: neither accepts network connections.
    pub exposed: bool,
    /// What the component offers its callers, from its technology and the protocols of the
    /// flows it receives: see [`interface_of`].
    pub interface: &'static str,
    pub data: DataSummary,
    /// Data persisted here (via `stored_in`, or written by flows into a data store).
    pub stored: DataSummary,
    pub inbound: usize,
    pub outbound: usize,
    /// Some inbound flow comes from a less trusted zone.
    pub inbound_from_less_trusted: bool,
    /// Some inbound flow crossing a boundary declares no (or `none`) authentication.
    pub inbound_unauthenticated: bool,
    /// Some inbound or outbound flow lacks strong encryption.
    pub unencrypted_flows: bool,
    pub callers: Vec<String>,
    pub callees: Vec<String>,
    pub boundaries: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FlowFacts<'m> {
    pub flow: &'m Flow,
    pub source: usize,
    pub destination: usize,
    pub crosses_boundary: bool,
    pub boundaries_crossed: Vec<String>,
    /// From a less trusted zone into a more trusted one.
    pub inbound: bool,
    /// Stays on one host: protocol `ipc` or `file`, a component talking to itself, or both
    /// ends inside one `process` or `container` (pod) boundary, or a call into a hypervisor,
    /// device emulation or sandbox (a hypercall, virtqueue or system call). No network path, so
    /// no eavesdropping, man-in-the-middle or replay on the wire, and never internet exposure.
    pub local: bool,
    pub data: DataSummary,
}

#[derive(Debug, Clone)]
pub struct DataFacts<'m> {
    pub asset: &'m DataAsset,
    pub stores: Vec<String>,
    /// Some store of it does not declare encryption at rest.
    pub stored_unencrypted: bool,
    /// Some flow carrying it crosses a trust boundary without strong encryption.
    pub crosses_unencrypted: bool,
    pub crosses_boundary: bool,
    pub flows: usize,
    pub processors: Vec<String>,
}

/// All facts for one model.
pub struct Facts<'m> {
    pub model: &'m SystemModel,
    pub components: Vec<ComponentFacts<'m>>,
    pub flows: Vec<FlowFacts<'m>>,
    pub data: Vec<DataFacts<'m>>,
}

impl<'m> Facts<'m> {
    pub fn new(model: &'m SystemModel) -> Facts<'m> {
        let topo = Topology::new(model);
        let comp_index: HashMap<&str, usize> = model
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let data_index: HashMap<&str, &DataAsset> =
            model.data.iter().map(|d| (d.id.as_str(), d)).collect();
        let boundary_names: HashMap<&str, &str> = model
            .trust_boundaries
            .iter()
            .map(|b| (b.id.as_str(), b.name.as_str()))
            .collect();
        let bname = |id: &String| {
            boundary_names
                .get(id.as_str())
                .map(|s| s.to_string())
                .unwrap_or_else(|| id.clone())
        };

        let mut components: Vec<ComponentFacts> = model
            .components
            .iter()
            .map(|c| ComponentFacts {
                component: c,
                zone: c.effective_trust_zone(),
                exposed: false,
                interface: "none",
                data: DataSummary::default(),
                stored: DataSummary::default(),
                inbound: 0,
                outbound: 0,
                inbound_from_less_trusted: false,
                inbound_unauthenticated: false,
                unencrypted_flows: false,
                callers: Vec::new(),
                callees: Vec::new(),
                boundaries: topo.boundaries_of(&c.id).iter().map(&bname).collect(),
            })
            .collect();
        let mut data: Vec<DataFacts> = model
            .data
            .iter()
            .map(|d| DataFacts {
                asset: d,
                stores: Vec::new(),
                stored_unencrypted: false,
                crosses_unencrypted: false,
                crosses_boundary: false,
                flows: 0,
                processors: Vec::new(),
            })
            .collect();
        let data_pos: HashMap<&str, usize> = model
            .data
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.as_str(), i))
            .collect();

        for (di, d) in model.data.iter().enumerate() {
            for s in &d.stored_in {
                if let Some(&ci) = comp_index.get(s.as_str()) {
                    components[ci].data.add(d);
                    components[ci].stored.add(d);
                    let c = &model.components[ci];
                    data[di].stores.push(c.name.clone());
                    if c.encryption_at_rest != Some(true) {
                        data[di].stored_unencrypted = true;
                    }
                }
            }
            for p in &d.processed_by {
                if let Some(&ci) = comp_index.get(p.as_str()) {
                    components[ci].data.add(d);
                    data[di].processors.push(model.components[ci].name.clone());
                }
            }
        }

        let mut flows = Vec::with_capacity(model.flows.len());
        for f in &model.flows {
            let (Some(&si), Some(&ti)) = (
                comp_index.get(f.from.as_str()),
                comp_index.get(f.to.as_str()),
            ) else {
                continue; // validation rejects dangling flows; the engine just skips them
            };
            let sz = components[si].zone;
            let tz = components[ti].zone;
            let crosses = topo.crosses_zones(&f.from, &f.to, Some(sz), Some(tz));
            let crossed: Vec<String> = if crosses {
                topo.crossed_boundaries(&f.from, &f.to)
            } else {
                Vec::new()
            };
            // A hypercall, virtqueue or system call never leaves the host, whatever the
            // protocol field says.
            let kernel_dst = matches!(
                model.components[ti].technology,
                Technology::Hypervisor | Technology::DeviceEmulation | Technology::Sandbox
            );
            let local = f.from == f.to
                || matches!(f.protocol, Some(Protocol::Ipc | Protocol::File))
                || kernel_dst
                || same_host(model, &topo, &f.from, &f.to);
            let mut summary = DataSummary::default();
            for did in f.data.iter().chain(&f.data_received) {
                if let Some(d) = data_index.get(did.as_str()) {
                    summary.add(d);
                    if let Some(&dp) = data_pos.get(did.as_str()) {
                        data[dp].flows += 1;
                        if crosses {
                            data[dp].crosses_boundary = true;
                            // Nobody can read a local channel on the wire.
                            if !local && !f.encryption.unwrap_or(Encryption::None).is_strong() {
                                data[dp].crosses_unencrypted = true;
                            }
                        }
                    }
                    components[si].data.add(d);
                    components[ti].data.add(d);
                    if model.components[ti].kind == ElementKind::DataStore && f.data.contains(did) {
                        components[ti].stored.add(d);
                    }
                }
            }
            let unauth = f.authentication.is_none_or(|a| a == AuthScheme::None);
            let weak = !f.encryption.unwrap_or(Encryption::None).is_strong();
            {
                let src = &mut components[si];
                src.outbound += 1;
                src.callees.push(model.components[ti].name.clone());
                src.unencrypted_flows |= weak;
            }
            {
                let src_name = model.components[si].name.clone();
                let src_external = model.components[si].kind == ElementKind::ExternalEntity;
                let dst = &mut components[ti];
                dst.inbound += 1;
                dst.callers.push(src_name);
                dst.unencrypted_flows |= weak;
                if trust_rank(sz) < trust_rank(tz) {
                    dst.inbound_from_less_trusted = true;
                }
                if crosses && unauth {
                    dst.inbound_unauthenticated = true;
                }
                // A local flow (same host, ipc/file) never comes from the internet.
                if !local
                    && (sz == TrustZone::Internet || (src_external && sz <= TrustZone::ThirdParty))
                {
                    dst.exposed = true;
                }
            }
            flows.push(FlowFacts {
                flow: f,
                source: si,
                destination: ti,
                crosses_boundary: crosses,
                boundaries_crossed: crossed.iter().map(&bname).collect(),
                inbound: trust_rank(sz) < trust_rank(tz),
                local,
                data: summary,
            });
        }
        // Each component's inbound flows (protocol, caller's technology), in flow order: one
        // pass over the flows instead of one per component (quadratic at 10 000 components).
        let mut inbound_by_dst: Vec<Vec<(Option<Protocol>, Technology)>> =
            vec![Vec::new(); components.len()];
        for ff in &flows {
            if ff.destination != ff.source {
                inbound_by_dst[ff.destination]
                    .push((ff.flow.protocol, model.components[ff.source].technology));
            }
        }
        for (ci, c) in components.iter_mut().enumerate() {
            let comp = &model.components[ci];
            if comp.internet_facing == Some(true) && (c.inbound > 0 || c.outbound == 0) {
                c.exposed = true;
            }
            c.interface = interface_of(comp, &inbound_by_dst[ci]);
            // Neither listens for connections: a command-line tool only calls out, and a
            // hypercall, system-call or emulated-device interface is reached only by code
            // already running on that host (a guest, a sandboxed process). Their own rules
            // test `inbound_from_less_trusted` and the isolation attributes instead.
            if matches!(c.interface, "kernel") || comp.technology == Technology::Cli {
                c.exposed = false;
            }
        }
        for c in &mut components {
            c.callers.sort();
            c.callers.dedup();
            c.callees.sort();
            c.callees.dedup();
        }
        Facts {
            model,
            components,
            flows,
            data,
        }
    }
}

/// Both ends inside one boundary of kind `process` or `container` (a pod, a container, one
/// process): whatever passes between them never reaches a network others can see.
fn same_host(model: &SystemModel, topo: &Topology, a: &str, b: &str) -> bool {
    let local_kinds = [BoundaryKind::Process, BoundaryKind::Container];
    let of_a = topo.boundaries_of(a);
    let of_b = topo.boundaries_of(b);
    model
        .trust_boundaries
        .iter()
        .any(|tb| local_kinds.contains(&tb.kind) && of_a.contains(&tb.id) && of_b.contains(&tb.id))
}

/// The interface values `component.interface` may take, most specific first in
/// [`interface_of`].
pub const INTERFACES: &[&str] = &[
    "web",
    "http-api",
    "grpc",
    "messaging",
    "datastore",
    "device",
    "local",
    "kernel",
    "other",
    "none",
];

/// What a component offers the callers that reach it, so that rules fire only where the
/// element can be attacked that way (XSS and CSRF need a web interface, HTTP rate limits an
/// HTTP API):
/// - `web`: pages for browsers (`web-app`, or HTTP from a browser or user);
/// - `http-api`: an HTTP interface (API services, gateways, identity providers, or any
///   inbound `http`/`https`/`graphql`/`websocket` flow);
/// - `grpc`, `messaging` (queues, `amqp`/`kafka`/`mqtt`/`coap`), `datastore`, `device`;
/// - `local`: reached only over `ipc` or `file`;
/// - `kernel`: a system-call, hypercall or emulated-device interface (hypervisors, device
///   emulation, sandboxes): callers are guest or sandboxed code, not network clients;
/// - `other`: reached over other protocols (`tcp`, `ssh`, unstated);
/// - `none`: nothing initiates a flow to it (a CLI, a controller that only calls out).
///
/// Technology decides where it is specific; components of technology `other` are judged by
/// their inbound flows alone, so they do not get the web rules by default. Proxies that
/// browsers pass through (`service-mesh`, `ingress-controller`) and a `remote-browser` never
/// render pages of their own, so browser traffic makes them `http-api`, not `web`.
pub fn interface_of(c: &Component, inbound: &[(Option<Protocol>, Technology)]) -> &'static str {
    use Technology as T;
    let http = |p: &Option<Protocol>| {
        matches!(
            p,
            Some(Protocol::Http | Protocol::Https | Protocol::Graphql | Protocol::Websocket)
        )
    };
    let from_browser = inbound
        .iter()
        .any(|(p, t)| http(p) && matches!(t, T::Browser | T::User));
    match c.technology {
        T::WebApp => return "web",
        T::ApiService | T::ApiGateway | T::OrchestratorApi | T::AdmissionWebhook => {
            return "http-api";
        }
        T::Kms => {
            let grpc = inbound
                .iter()
                .any(|(p, _)| matches!(p, Some(Protocol::Grpc)));
            return if grpc { "grpc" } else { "http-api" };
        }
        T::Hypervisor | T::DeviceEmulation | T::Sandbox => return "kernel",
        // Runs on a workstation and only calls out, whatever the diagram's arrows suggest.
        T::Cli => return "none",
        T::MessageBroker => return "messaging",
        T::ConsensusStore | T::ContainerRegistry | T::SourceRepository | T::LogStore => {
            return "datastore";
        }
        // Sign-in pages for browsers, token endpoints for services.
        T::IdentityProvider => return if from_browser { "web" } else { "http-api" },
        T::Queue => return "messaging",
        T::Database
        | T::NosqlDatabase
        | T::VectorDatabase
        | T::SearchIndex
        | T::ObjectStorage
        | T::FileStorage
        | T::Cache => return "datastore",
        _ => {}
    }
    let renders_pages = !matches!(
        c.technology,
        T::ServiceMesh | T::IngressController | T::RemoteBrowser
    );
    if from_browser && renders_pages {
        return "web";
    }
    if inbound.iter().any(|(p, _)| http(p)) {
        return "http-api";
    }
    if inbound
        .iter()
        .any(|(p, _)| matches!(p, Some(Protocol::Grpc)))
    {
        return "grpc";
    }
    if inbound.iter().any(|(p, _)| {
        matches!(
            p,
            Some(Protocol::Amqp | Protocol::Kafka | Protocol::Mqtt | Protocol::Coap)
        )
    }) {
        return "messaging";
    }
    if c.kind == ElementKind::DataStore {
        return "datastore";
    }
    if matches!(c.technology, T::IotDevice | T::IotGateway) {
        return "device";
    }
    if inbound.is_empty() {
        return "none";
    }
    if inbound
        .iter()
        .all(|(p, _)| matches!(p, Some(Protocol::Ipc | Protocol::File)))
    {
        return "local";
    }
    "other"
}
