//! Standards: MITRE CWE and CAPEC CSV exports, OWASP ASVS (nested JSON, flat JSON, CSV) and
//! the OWASP Top 10 → CWE mappings. One chunk per entry, because an entry is what a threat
//! cites.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Skip, mitre_field, mitre_records, skip};
use crate::chunk::{Chunk, ChunkKind, ChunkMeta, MAX_CHUNK_BYTES, truncate};

/// CSV rows as header → cell maps; rows with the wrong shape are tolerated (`flexible`), since
/// MITRE's exports carry a trailing empty column on some rows.
fn csv_rows(text: &str) -> Result<Vec<BTreeMap<String, String>>, Skip> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.trim_start_matches('\'').to_string())
            .collect(),
        Err(e) => return skip(format!("unreadable CSV header: {e}")),
    };
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return skip(format!("CSV row {}: {e}", i + 2)),
        };
        out.push(
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.clone(), v.to_string()))
                .collect(),
        );
    }
    Ok(out)
}

fn cell<'a>(row: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    row.get(key).map(|s| s.trim()).unwrap_or("")
}

/// Numeric ids in a MITRE list cell such as `::108::109::` (CAPEC ids of a CWE).
fn id_list(cell: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = mitre_records(cell)
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// STRIDE letters implied by CWE "Common Consequences" scopes: confidentiality → I,
/// integrity → T, availability → D, access control/authorization → E, authentication → S,
/// non-repudiation/accountability → R. A coarse but documented mapping that lets a filter such
/// as `stride=I` narrow a search.
fn stride_from_scopes(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rec in mitre_records(cell) {
        let mut rest = rec.as_str();
        while let Some(pos) = rest.find("SCOPE:") {
            rest = &rest[pos + 6..];
            let scope = rest.split(':').next().unwrap_or("").to_ascii_lowercase();
            let letter = match scope.as_str() {
                "confidentiality" => "I",
                "integrity" => "T",
                "availability" => "D",
                "access control" | "authorization" => "E",
                "authentication" => "S",
                "non-repudiation" | "accountability" => "R",
                _ => continue,
            };
            out.push(letter.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Joins the `DESCRIPTION:` parts of a MITRE mitigations cell.
fn mitigation_texts(cell: &str) -> Vec<String> {
    mitre_records(cell)
        .iter()
        .map(|r| {
            mitre_field(r, "DESCRIPTION")
                .map(str::to_string)
                .unwrap_or_else(|| r.clone())
        })
        .filter(|s| !s.is_empty() && !s.starts_with("PHASE:"))
        .collect()
}

fn bounded(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    truncate(&joined, MAX_CHUNK_BYTES).to_string()
}

/// MITRE CWE CSV (any view): one chunk per weakness.
pub fn cwe_csv(text: &str) -> Result<Vec<Chunk>, Skip> {
    let mut out = Vec::new();
    for row in csv_rows(text)? {
        let Ok(id) = cell(&row, "CWE-ID").parse::<u32>() else {
            continue;
        };
        let name = cell(&row, "Name");
        let mitigations = mitigation_texts(cell(&row, "Potential Mitigations"));
        let mitig = mitigations.join(" ");
        let text = bounded(&[
            cell(&row, "Description"),
            cell(&row, "Extended Description"),
            &mitig,
        ]);
        out.push(Chunk {
            key: format!("CWE-{id}"),
            kind: ChunkKind::Cwe,
            title: format!("CWE-{id}: {name}"),
            text,
            meta: ChunkMeta {
                cwe: vec![id],
                capec: id_list(cell(&row, "Related Attack Patterns")),
                stride: stride_from_scopes(cell(&row, "Common Consequences")),
                ..ChunkMeta::default()
            },
        });
    }
    Ok(out)
}

/// MITRE CAPEC CSV: one chunk per attack pattern, with its related CWEs.
pub fn capec_csv(text: &str) -> Result<Vec<Chunk>, Skip> {
    let mut out = Vec::new();
    for row in csv_rows(text)? {
        let Ok(id) = cell(&row, "ID").parse::<u32>() else {
            continue;
        };
        let name = cell(&row, "Name");
        let mitig = mitigation_texts(cell(&row, "Mitigations")).join(" ");
        let text = bounded(&[
            cell(&row, "Description"),
            &format!(
                "Likelihood: {}. Typical severity: {}.",
                cell(&row, "Likelihood Of Attack"),
                cell(&row, "Typical Severity")
            ),
            &mitig,
        ]);
        out.push(Chunk {
            key: format!("CAPEC-{id}"),
            kind: ChunkKind::Capec,
            title: format!("CAPEC-{id}: {name}"),
            text,
            meta: ChunkMeta {
                capec: vec![id],
                cwe: id_list(cell(&row, "Related Weaknesses")),
                severity: Some(cell(&row, "Typical Severity").to_ascii_lowercase())
                    .filter(|s| !s.is_empty()),
                ..ChunkMeta::default()
            },
        });
    }
    Ok(out)
}

/// ASVS version from the document or, for the flat and CSV forms that do not carry it, the
/// file name (the OWASP release names files `…_4.0.3_en.csv`).
fn asvs_version(name: &str, value: Option<&Value>) -> String {
    if let Some(v) = value.and_then(|v| v.get("Version")).and_then(Value::as_str) {
        return v.to_string();
    }
    for v in ["4.0.3", "4.0.2", "4.0.1", "5.0.0", "5.0"] {
        if name.contains(v) {
            return v.to_string();
        }
    }
    "unknown".to_string()
}

fn cwe_ids_text(s: &str) -> Vec<u32> {
    s.split([',', ';', ' '])
        .filter_map(|p| p.trim().trim_start_matches("CWE-").parse().ok())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn asvs_chunk(
    version: &str,
    chapter: &str,
    section: &str,
    req_id: &str,
    desc: &str,
    level: &str,
    cwe: Vec<u32>,
) -> Chunk {
    let text = bounded(&[
        desc,
        &format!("Chapter: {chapter}. Section: {section}. Level: {level}."),
    ]);
    Chunk {
        key: format!("ASVS-{version}-{req_id}"),
        kind: ChunkKind::Asvs,
        title: format!("ASVS {version} {req_id}: {section}"),
        text,
        meta: ChunkMeta {
            asvs: vec![req_id.to_string()],
            cwe,
            version: Some(version.to_string()),
            ..ChunkMeta::default()
        },
    }
}

/// OWASP ASVS CSV (4.0.3 with `level1..3,cwe`, 5.0 with `L`).
pub fn asvs_csv(text: &str) -> Result<Vec<Chunk>, Skip> {
    // The CSV form does not name its version; the caller's file name is not available here,
    // so the requirement text is what identifies it (5.0 CSVs have the `L` column).
    let rows = csv_rows(text)?;
    let version = if rows.first().is_some_and(|r| r.contains_key("L")) {
        "5.0.0"
    } else {
        "4.0.3"
    };
    Ok(rows
        .iter()
        .filter(|r| !cell(r, "req_id").is_empty())
        .map(|r| {
            let level = if r.contains_key("L") {
                cell(r, "L").to_string()
            } else if !cell(r, "level1").is_empty() {
                "1".into()
            } else if !cell(r, "level2").is_empty() {
                "2".into()
            } else {
                "3".into()
            };
            asvs_chunk(
                version,
                cell(r, "chapter_name"),
                cell(r, "section_name"),
                cell(r, "req_id"),
                cell(r, "req_description"),
                &level,
                cwe_ids_text(cell(r, "cwe")),
            )
        })
        .collect())
}

/// OWASP ASVS JSON: the nested release form (`Requirements[].Items[].Items[]`) or the flat form
/// (`requirements[]`).
pub fn asvs_json(name: &str, value: &Value) -> Result<Vec<Chunk>, Skip> {
    let version = asvs_version(name, Some(value));
    let mut out = Vec::new();
    if let Some(flat) = value.get("requirements").and_then(Value::as_array) {
        for r in flat {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let req = s("req_id");
            if req.is_empty() {
                continue;
            }
            let level = if !s("L").is_empty() {
                s("L")
            } else if !s("level1").is_empty() {
                "1".into()
            } else if !s("level2").is_empty() {
                "2".into()
            } else {
                "3".into()
            };
            out.push(asvs_chunk(
                &version,
                &s("chapter_name"),
                &s("section_name"),
                &req,
                &s("req_description"),
                &level,
                cwe_ids_text(&s("cwe")),
            ));
        }
        return Ok(out);
    }
    let Some(chapters) = value.get("Requirements").and_then(Value::as_array) else {
        return skip("ASVS JSON without `Requirements` or `requirements`");
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    for ch in chapters {
        let chapter = str_of(ch, "Name");
        for sec in ch
            .get("Items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let section = str_of(sec, "Name");
            for req in sec
                .get("Items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = str_of(req, "Shortcode");
                if id.is_empty() {
                    continue;
                }
                let level = ["L1", "L2", "L3"]
                    .iter()
                    .position(|l| {
                        req.get(*l)
                            .and_then(|x| x.get("Required"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    })
                    .map(|i| (i + 1).to_string())
                    .or_else(|| req.get("L").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                let cwe = req
                    .get("CWE")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_u64().and_then(|n| u32::try_from(n).ok()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(asvs_chunk(
                    &version,
                    &chapter,
                    &section,
                    &id,
                    &str_of(req, "Description"),
                    &level,
                    cwe,
                ));
            }
        }
    }
    Ok(out)
}

/// OWASP Top 10 mappings: `{"2021": [{id, name, cwes}], "2025": […]}` or `{"items": […]}`
/// (API and LLM Top 10). One chunk per category, tagged with its CWEs.
pub fn owasp_mappings(name: &str, value: &Value) -> Result<Vec<Chunk>, Skip> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        return skip("OWASP mapping is not a JSON object");
    };
    for (edition, items) in obj {
        let Some(items) = items.as_array() else {
            continue;
        };
        let version = if edition == "items" {
            name.rsplit('/').next().unwrap_or(name).to_string()
        } else {
            edition.clone()
        };
        for it in items {
            let id = it.get("id").and_then(Value::as_str).unwrap_or("");
            let title = it.get("name").and_then(Value::as_str).unwrap_or("");
            if id.is_empty() {
                continue;
            }
            let cwe: Vec<u32> = it
                .get("cwes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_u64().and_then(|n| u32::try_from(n).ok()))
                        .collect()
                })
                .unwrap_or_default();
            let cwe_text = cwe
                .iter()
                .map(|c| format!("CWE-{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Chunk {
                key: format!("OWASP-{id}"),
                kind: ChunkKind::Owasp,
                title: format!("OWASP {id}: {title}"),
                text: bounded(&[&format!("Mapped weaknesses: {cwe_text}")]),
                meta: ChunkMeta {
                    cwe,
                    version: Some(version.clone()),
                    ..ChunkMeta::default()
                },
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwe_row_becomes_a_chunk_with_metadata() {
        let csv = "CWE-ID,Name,Description,Extended Description,Common Consequences,Potential Mitigations,Related Attack Patterns\n89,\"SQL Injection\",\"Builds SQL from input.\",\"\",\"::SCOPE:Confidentiality:IMPACT:Read::SCOPE:Access Control:IMPACT:Bypass::\",\"::PHASE:Implementation:DESCRIPTION:Use prepared statements.::\",\"::66::7::\"\nnot-a-number,x,y,,,,\n";
        let chunks = cwe_csv(csv).expect("parses");
        assert_eq!(chunks.len(), 1);
        let c = &chunks[0];
        assert_eq!(c.key, "CWE-89");
        assert_eq!(c.title, "CWE-89: SQL Injection");
        assert!(c.text.contains("prepared statements"));
        assert_eq!(c.meta.capec, vec![7, 66]);
        assert_eq!(c.meta.stride, vec!["E", "I"]);
    }

    #[test]
    fn asvs_flat_and_csv_agree_on_ids() {
        let flat = serde_json::json!({"requirements": [{"chapter_name": "Auth", "section_name": "Passwords",
            "req_id": "V2.1.1", "req_description": "Verify passwords are 12 chars.", "level1": "✓", "cwe": "521"}]});
        let a = asvs_json("OWASP_ASVS_4.0.3_en.flat.json", &flat).expect("flat");
        let b = asvs_csv("chapter_id,chapter_name,section_id,section_name,req_id,req_description,level1,level2,level3,cwe,nist\nV2,Auth,V2.1,Passwords,V2.1.1,Verify passwords are 12 chars.,✓,✓,✓,521,\n").expect("csv");
        assert_eq!(a[0].key, b[0].key);
        assert_eq!(a[0].meta.cwe, vec![521]);
        assert_eq!(b[0].meta.cwe, vec![521]);
    }
}
