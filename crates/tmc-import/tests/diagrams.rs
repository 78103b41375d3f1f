//! The diagram importers (draw.io, Mermaid, PlantUML) against hand-written fixtures of one
//! three-tier web shop, plus hostile inputs that must fail cleanly or stay bounded.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine as _;
use tmc_import::{ImportError, ImportResult, drawio, mermaid, plantuml};
use tmc_model::{BoundaryKind, ElementKind, Protocol, Technology};

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the tests compare: order-independent, ids included.
#[derive(Debug, PartialEq)]
struct Summary {
    title: String,
    components: Vec<(String, String, ElementKind, Technology)>,
    flows: Vec<(String, String, Option<Protocol>)>,
    boundaries: Vec<(String, BoundaryKind, Vec<String>, Vec<String>)>,
}

fn summary(r: &ImportResult) -> Summary {
    let m = &r.model;
    let mut components: Vec<_> = m
        .components
        .iter()
        .map(|c| (c.id.clone(), c.name.clone(), c.kind, c.technology))
        .collect();
    components.sort_by(|a, b| a.0.cmp(&b.0));
    let mut flows: Vec<_> = m
        .flows
        .iter()
        .map(|f| (f.from.clone(), f.to.clone(), f.protocol))
        .collect();
    flows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut boundaries: Vec<_> = m
        .trust_boundaries
        .iter()
        .map(|b| {
            let mut members = b.members.clone();
            members.sort();
            let mut children = b.boundaries.clone();
            children.sort();
            (b.id.clone(), b.kind, members, children)
        })
        .collect();
    boundaries.sort_by(|a, b| a.0.cmp(&b.0));
    Summary {
        title: m.product.name.clone(),
        components,
        flows,
        boundaries,
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The web shop as every fixture draws it.
fn expected_shop() -> Summary {
    use ElementKind::*;
    Summary {
        title: s("Web shop"),
        components: vec![
            (
                s("customer"),
                s("Customer"),
                ExternalEntity,
                Technology::User,
            ),
            (
                s("invoices-bucket"),
                s("Invoices bucket"),
                DataStore,
                Technology::ObjectStorage,
            ),
            (
                s("orders-api"),
                s("Orders API"),
                Process,
                Technology::ApiService,
            ),
            (
                s("orders-db"),
                s("Orders DB"),
                DataStore,
                Technology::Database,
            ),
            (
                s("web-server"),
                s("Web Server"),
                Process,
                Technology::WebApp,
            ),
        ],
        flows: vec![
            (s("customer"), s("web-server"), Some(Protocol::Https)),
            (s("orders-api"), s("invoices-bucket"), None),
            (s("orders-api"), s("orders-db"), Some(Protocol::Sql)),
            (s("web-server"), s("orders-api"), Some(Protocol::Https)),
        ],
        boundaries: vec![
            (
                s("aws-account"),
                BoundaryKind::CloudAccount,
                vec![s("invoices-bucket")],
                vec![s("vpc")],
            ),
            (
                s("vpc"),
                BoundaryKind::Vpc,
                vec![s("orders-api"), s("orders-db"), s("web-server")],
                vec![],
            ),
        ],
    }
}

/// The model must load and validate with the DSL crate: ids valid and unique, references
/// resolved, boundaries a tree.
fn assert_valid_dsl(r: &ImportResult) {
    let json = serde_json::to_vec(&r.model).expect("model serialises");
    if let Err(errors) = tmc_dsl::load_checked(&json, "imported.json") {
        panic!(
            "imported model does not validate: {errors:?}\n{}",
            String::from_utf8_lossy(&json)
        );
    }
}

fn has_note(r: &ImportResult, element: Option<&str>, text: &str) -> bool {
    r.notes
        .iter()
        .any(|n| n.message.contains(text) && (element.is_none() || n.element.as_deref() == element))
}

fn is_malformed(r: Result<ImportResult, ImportError>, text: &str) -> bool {
    match r {
        Err(ImportError::Malformed { message, .. }) => {
            assert!(message.contains(text), "unexpected message: {message}");
            true
        }
        Err(other) => panic!("expected Malformed, got {other}"),
        Ok(_) => false,
    }
}

#[test]
fn drawio_all_four_encodings_import_to_the_same_model() {
    let variants = [
        "drawio/shop.drawio",
        "drawio/shop-compressed.drawio",
        "drawio/shop.drawio.svg",
        "drawio/shop.drawio.png",
        "drawio/shop-ztxt.drawio.png",
    ];
    for v in variants {
        let r = drawio::import(&fixture(v)).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(summary(&r), expected_shop(), "{v}");
        assert_valid_dsl(&r);
        assert!(
            has_note(&r, Some("web-server"), "kind inferred from shape"),
            "{v}: {:#?}",
            r.notes
        );
        assert!(
            has_note(
                &r,
                Some("orders-api-to-invoices-bucket"),
                "protocol unknown"
            ),
            "{v}"
        );
        assert!(has_note(&r, None, "connection `e5` skipped"), "{v}");
        assert!(has_note(&r, None, "only the first (\"Web shop\")"), "{v}");
        assert!(has_note(&r, None, "free-text"), "{v}");
        assert_eq!(
            r.id_map.get("orders-api").map(String::as_str),
            Some("api"),
            "{v}"
        );
        assert_eq!(r.id_map.get("vpc").map(String::as_str), Some("vpc"), "{v}");
        let store = r
            .model
            .flows
            .iter()
            .find(|f| f.to == "invoices-bucket")
            .expect("flow");
        assert_eq!(store.description.as_deref(), Some("store invoices"));
        let https = r
            .model
            .flows
            .iter()
            .find(|f| f.from == "customer")
            .expect("flow");
        assert_eq!(https.name.as_deref(), Some("HTTPS"));
        assert!(r.threats.is_empty());
    }
}

#[test]
fn drawio_bare_graph_model_and_edge_directions() {
    let xml = br#"<mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/>
      <mxCell id="a" value="Browser" style="rounded=0;" vertex="1" parent="1"><mxGeometry x="0" y="0" width="10" height="10" as="geometry"/></mxCell>
      <mxCell id="b" value="" style="shape=mxgraph.aws4.productIcon;prIcon=mxgraph.aws4.lambda;" vertex="1" parent="1"><mxGeometry x="50" y="0" width="10" height="10" as="geometry"/></mxCell>
      <mxCell id="c" value="Queue" style="sketch=0;shape=mxgraph.aws4.resourceIcon;resIcon=mxgraph.aws4.sqs;" vertex="1" parent="1"><mxGeometry x="90" y="0" width="10" height="10" as="geometry"/></mxCell>
      <mxCell id="ab" value="wss" style="startArrow=classic;endArrow=classic;" edge="1" parent="1" source="a" target="b"><mxGeometry relative="1" as="geometry"/></mxCell>
      <mxCell id="cb" style="startArrow=block;endArrow=none;" edge="1" parent="1" source="b" target="c"><mxGeometry relative="1" as="geometry"/></mxCell>
      <mxCell id="ac" style="endArrow=none;" edge="1" parent="1" source="a" target="c"><mxGeometry relative="1" as="geometry"/></mxCell>
      <mxCell id="ghost" edge="1" parent="1" source="a" target="nowhere"><mxGeometry relative="1" as="geometry"/></mxCell>
    </root></mxGraphModel>"#;
    let r = drawio::import(xml).expect("imports");
    assert_valid_dsl(&r);
    let lambda = r
        .model
        .components
        .iter()
        .find(|c| c.technology == Technology::ServerlessFunction);
    assert_eq!(lambda.map(|c| c.name.as_str()), Some("lambda"));
    let queue = r.model.component("queue").expect("queue");
    assert_eq!(
        (queue.kind, queue.technology),
        (ElementKind::DataStore, Technology::Queue)
    );
    let browser = r.model.component("browser").expect("browser");
    assert_eq!(browser.kind, ElementKind::ExternalEntity);
    let both = r
        .model
        .flows
        .iter()
        .find(|f| f.from == "browser" && f.to == "lambda")
        .expect("a→b");
    assert_eq!(
        (both.bidirectional, both.protocol),
        (Some(true), Some(Protocol::Websocket))
    );
    // Arrow only at the start: the data flows target → source.
    assert!(
        r.model
            .flows
            .iter()
            .any(|f| f.from == "queue" && f.to == "lambda")
    );
    assert!(has_note(&r, None, "`nowhere`, which does not exist"));
    assert!(r.notes.iter().any(|n| n.message.contains("no arrow head")));
}

#[test]
fn mermaid_fixture_imports_the_shop() {
    let r = mermaid::import(&fixture("mermaid/shop.mmd")).expect("imports");
    assert_eq!(summary(&r), expected_shop());
    assert_valid_dsl(&r);
    assert!(has_note(&r, Some("customer"), "kind inferred"));
    assert!(has_note(
        &r,
        Some("orders-api-to-invoices-bucket"),
        "protocol unknown"
    ));
    assert_eq!(r.id_map.get("orders-api").map(String::as_str), Some("api"));
    assert_eq!(r.id_map.get("aws-account").map(String::as_str), Some("aws"));
}

#[test]
fn mermaid_chains_ampersands_and_link_forms() {
    let src = "graph TD\n  A[Web] --> B[API] --> C[(Postgres)]\n  A & B -.-> D[Redis cache]\n  \
               E[Worker] == AMQP ==> F[RabbitMQ queue]; F --- G[Admin]\n  G <-->|gRPC| B\n";
    let r = mermaid::import(src.as_bytes()).expect("imports");
    assert_valid_dsl(&r);
    let pairs: Vec<(&str, &str)> = r
        .model
        .flows
        .iter()
        .map(|f| (f.from.as_str(), f.to.as_str()))
        .collect();
    for want in [
        ("web", "api"),
        ("api", "postgres"),
        ("web", "redis-cache"),
        ("api", "redis-cache"),
        ("worker", "rabbitmq-queue"),
        ("rabbitmq-queue", "admin"),
        ("admin", "api"),
    ] {
        assert!(pairs.contains(&want), "missing {want:?} in {pairs:?}");
    }
    let amqp = r
        .model
        .flows
        .iter()
        .find(|f| f.from == "worker")
        .expect("flow");
    assert_eq!(amqp.protocol, Some(Protocol::Amqp));
    let grpc = r
        .model
        .flows
        .iter()
        .find(|f| f.from == "admin")
        .expect("flow");
    assert_eq!(
        (grpc.protocol, grpc.bidirectional),
        (Some(Protocol::Grpc), Some(true))
    );
    let admin = r.model.component("admin").expect("admin");
    assert_eq!(admin.kind, ElementKind::ExternalEntity);
    assert_eq!(
        r.model.component("postgres").map(|c| c.kind),
        Some(ElementKind::DataStore)
    );
    assert_eq!(
        r.model.component("redis-cache").map(|c| c.technology),
        Some(Technology::Cache)
    );
}

#[test]
fn mermaid_errors_name_the_line() {
    let err = mermaid::import(b"sequenceDiagram\n A->>B: hi\n").expect_err("not a flowchart");
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = mermaid::import(b"flowchart LR\n  A[open --> B\n").expect_err("unclosed shape");
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = mermaid::import(b"flowchart LR\n  A ~~ B\n").expect_err("bad link");
    assert!(err.to_string().contains("expected a link"), "{err}");
}

#[test]
fn plantuml_fixture_imports_the_shop() {
    let r = plantuml::import(&fixture("plantuml/shop.puml")).expect("imports");
    assert_eq!(summary(&r), expected_shop());
    assert_valid_dsl(&r);
    assert!(has_note(
        &r,
        Some("orders-api-to-invoices-bucket"),
        "protocol unknown"
    ));
    assert_eq!(r.id_map.get("orders-db").map(String::as_str), Some("db"));
    // The note block and skinparam body are skipped, not reported.
    assert!(!has_note(&r, None, "not understood"), "{:#?}", r.notes);
}

#[test]
fn plantuml_reverse_arrows_and_implicit_elements() {
    let src = "@startuml\n[Frontend] <-- [Backend] : gRPC\n:Admin: --> [Frontend]\nfoo -- bar\n\
               package P {\n  queue Jobs\n}\nP --> Jobs\nwhat is this\n@enduml\n";
    let r = plantuml::import(src.as_bytes()).expect("imports");
    assert_valid_dsl(&r);
    let grpc = r
        .model
        .flows
        .iter()
        .find(|f| f.protocol == Some(Protocol::Grpc))
        .expect("flow");
    assert_eq!(
        (grpc.from.as_str(), grpc.to.as_str()),
        ("backend", "frontend")
    );
    assert_eq!(
        r.model.component("admin").map(|c| c.kind),
        Some(ElementKind::ExternalEntity)
    );
    assert!(has_note(&r, Some("foo"), "not declared"));
    assert!(has_note(&r, None, "relation to the frame `P` skipped"));
    assert!(has_note(&r, None, "what is this"));
    assert_eq!(r.model.trust_boundaries[0].members, vec![s("jobs")]);
    assert!(plantuml::import(b"component A\n").is_err());
}

// ---- hostile input ----

#[test]
fn truncated_xml_is_malformed() {
    let full = fixture("drawio/shop.drawio");
    assert!(is_malformed(
        drawio::import(&full[..full.len() / 2]),
        "ends inside"
    ));
}

#[test]
fn doctype_and_entity_bomb_are_refused() {
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<mxfile><diagram name="x"><mxGraphModel><root><mxCell id="0" value="&lol3;"/></root></mxGraphModel></diagram></mxfile>"#;
    assert!(is_malformed(drawio::import(bomb), "DOCTYPE"));
    // An undeclared entity is refused rather than guessed.
    let custom = br#"<mxGraphModel><root><mxCell id="0" value="&lol;"/></root></mxGraphModel>"#;
    assert!(drawio::import(custom).is_err());
    // Inside an SVG's content the inner document is checked the same way.
    let svg = br#"<svg content="&lt;!DOCTYPE x [&lt;!ENTITY a 'b'&gt;]&gt;&lt;mxfile/&gt;"></svg>"#;
    assert!(is_malformed(drawio::import(svg), "DOCTYPE"));
}

#[test]
fn deflate_bomb_stops_at_the_cap() {
    // 40 MiB of '%' characters compress to ~40 KiB and would inflate past the 32 MiB cap.
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b'%'; 1 << 20];
    for _ in 0..40 {
        enc.write_all(&block).expect("compress");
    }
    let raw = enc.finish().expect("compress");
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    let doc = format!("<mxfile><diagram name=\"bomb\">{b64}</diagram></mxfile>");
    assert!(is_malformed(
        drawio::import(doc.as_bytes()),
        "expands beyond"
    ));
}

#[test]
fn png_with_a_bad_chunk_length_is_malformed() {
    let mut png = fixture("drawio/shop.drawio.png");
    // The first chunk after the signature is IHDR; claim it is 2 GiB long.
    png[8..12].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    assert!(is_malformed(drawio::import(&png), "declares"));
    let mut png = fixture("drawio/shop.drawio.png");
    png.truncate(40);
    assert!(drawio::import(&png).is_err());
    let signature_only = b"\x89PNG\r\n\x1a\n";
    assert!(drawio::import(signature_only).is_err());
}

#[test]
fn deeply_nested_input_is_bounded() {
    let mut src = String::from("flowchart TD\n");
    for i in 0..200 {
        src.push_str(&format!("subgraph s{i}\n"));
    }
    src.push_str("a --> b\n");
    assert!(is_malformed(
        mermaid::import(src.as_bytes()),
        "nested deeper"
    ));

    let mut puml = String::from("@startuml\n");
    for i in 0..200 {
        puml.push_str(&format!("package p{i} {{\n"));
    }
    assert!(is_malformed(
        plantuml::import(puml.as_bytes()),
        "nested deeper"
    ));

    let mut xml = String::new();
    for _ in 0..1000 {
        xml.push_str("<mxGraphModel>");
    }
    assert!(is_malformed(
        drawio::import(xml.as_bytes()),
        "nested deeper"
    ));

    // 63 levels are fine and give a boundary chain that validates.
    let mut ok = String::from("flowchart TD\n");
    for i in 0..60 {
        ok.push_str(&format!("subgraph s{i}\n"));
    }
    ok.push_str("a --> b\n");
    let r = mermaid::import(ok.as_bytes()).expect("imports");
    assert_eq!(r.model.trust_boundaries.len(), 60);
    assert_valid_dsl(&r);
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![b' '; tmc_import::MAX_IMPORT_BYTES + 1];
    for f in [drawio::import, mermaid::import, plantuml::import] {
        assert!(matches!(f(&big), Err(ImportError::TooLarge { .. })));
    }
}

#[test]
fn ampersand_explosion_is_capped() {
    let side: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let src = format!("graph LR\n{} --> {}\n", side.join(" & "), side.join(" & "));
    assert!(is_malformed(mermaid::import(src.as_bytes()), "more than"));
}

type Importer = fn(&[u8]) -> Result<ImportResult, ImportError>;

/// Every prefix and a few thousand byte mutations of each fixture: errors are fine, panics
/// are not, and every success validates.
#[test]
fn mutations_never_panic() {
    let inputs: [(&str, Importer); 6] = [
        ("drawio/shop.drawio", drawio::import),
        ("drawio/shop-compressed.drawio", drawio::import),
        ("drawio/shop.drawio.svg", drawio::import),
        ("drawio/shop-ztxt.drawio.png", drawio::import),
        ("mermaid/shop.mmd", mermaid::import),
        ("plantuml/shop.puml", plantuml::import),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (path, import) in inputs {
        let original = fixture(path);
        for len in (0..original.len()).step_by(7) {
            if let Ok(r) = import(&original[..len]) {
                assert_valid_dsl(&r);
            }
        }
        for _ in 0..1500 {
            let mut bytes = original.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % bytes.len();
                bytes[i] = match next() % 4 {
                    0 => b"<>\"'&;|[](){}-.:%\n"[(next() % 18) as usize],
                    1 => 0xff,
                    _ => next() as u8,
                };
            }
            if let Ok(r) = import(&bytes) {
                assert_valid_dsl(&r);
            }
        }
    }
}
