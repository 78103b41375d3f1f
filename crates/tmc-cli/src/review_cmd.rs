//! `tmc review`, `tmc check` and `tmc diff`: review decisions kept beside the model
//! (`threatmodel.review.yaml`), the CI gate, and what changed between two versions.
//!
//! The decisions, their carry-over, the counts and the gate are `tmc_review`; the model and
//! threat diff is `tmc_diff`; drafting is `tmc_app`'s pipeline. This module reads files, asks
//! git for an old revision, reads the clock and prints.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use tmc_model::{Draft, MitigationStatus, Severity, Stride, SystemModel, Threat, ThreatStatus};
use tmc_review::{ApplyContext, Decisions, MitigationUpdate, ReviewFile};

use crate::{Exit, OutputFormat};

/// Which model, which decisions file and (optionally) which saved draft a command works on.
#[derive(Args, Clone)]
pub struct Target {
    /// The model file (YAML or JSON).
    pub model: PathBuf,
    /// Decisions file (default: `<model>.review.yaml` beside the model).
    #[arg(long, value_name = "FILE")]
    pub review: Option<PathBuf>,
    /// Review a saved draft (e.g. one made with --kb or --provider) instead of re-drafting the
    /// model with the rules.
    #[arg(long, value_name = "DRAFT.json")]
    pub draft: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
pub struct DecideArgs {
    /// Why: required for accepted, transferred and not-applicable.
    #[arg(long, short)]
    pub reason: Option<String>,
    /// Acceptance expiry, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Ticket link or key; repeatable.
    #[arg(long = "ticket", value_name = "TICKET")]
    pub tickets: Vec<String>,
    /// Who decides (default: $TMC_REVIEWER, else `git config user.name`, else $USER).
    #[arg(long)]
    pub reviewer: Option<String>,
}

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Threats with their review state; filters combine.
    List {
        #[command(flatten)]
        target: Target,
        /// draft (unreviewed), open, mitigated, accepted, transferred, avoided, not-applicable,
        /// or `unresolved` (draft + open).
        #[arg(long)]
        status: Option<String>,
        /// Only this severity or above.
        #[arg(long)]
        severity: Option<String>,
        /// STRIDE letter or name.
        #[arg(long)]
        stride: Option<String>,
        /// Element (component, flow, data or boundary) id.
        #[arg(long)]
        element: Option<String>,
        /// rule, knowledge-base, model, import or manual.
        #[arg(long)]
        origin: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// One threat in full, with its decision.
    Show {
        #[command(flatten)]
        target: Target,
        id: String,
    },
    /// Confirm a threat as real and untreated (status open).
    Open(Decide),
    /// Accept the risk as it is (needs --reason; --expires optional).
    Accept(Decide),
    /// Record the threat as mitigated.
    Mitigate(Decide),
    /// Someone else carries the risk (needs --reason).
    Transfer(Decide),
    /// The design was changed so the threat cannot occur.
    Avoid(Decide),
    /// A false positive: does not apply to this system (needs --reason).
    Reject(Decide),
    /// Override a threat's severity, with the reason.
    Severity {
        #[command(flatten)]
        target: Target,
        id: String,
        /// info, low, medium, high or critical.
        level: String,
        #[arg(long, short)]
        reason: String,
        #[arg(long)]
        reviewer: Option<String>,
    },
    /// Add a mitigation to a threat, or change one's status, owner, ticket or due date.
    Mitigation {
        #[command(flatten)]
        target: Target,
        /// The threat id.
        id: String,
        /// The mitigation id (a drafted one, e.g. `M1`, or a new one with --text).
        #[arg(long = "mitigation", value_name = "ID")]
        mitigation: String,
        /// Text of a new mitigation.
        #[arg(long)]
        text: Option<String>,
        /// proposed, planned, in-progress, implemented, verified or wont-do.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        ticket: Option<String>,
        /// YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Add a threat the draft missed.
    Add {
        #[command(flatten)]
        target: Target,
        /// Id of the new threat (default: MANUAL-<n>).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Element id it is about; repeatable.
        #[arg(long = "on", value_name = "ELEMENT", required = true)]
        on: Vec<String>,
        /// STRIDE letters, e.g. `T` or `S,E`.
        #[arg(long)]
        stride: String,
        #[arg(long)]
        severity: String,
        #[arg(long)]
        cwe: Vec<u32>,
        #[arg(long)]
        reviewer: Option<String>,
    },
    /// Walk the unresolved threats one by one and decide each (on a terminal, or lines on stdin).
    Walk {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reviewer: Option<String>,
    },
}

#[derive(Args, Clone)]
pub struct Decide {
    #[command(flatten)]
    pub target: Target,
    /// Threat ids, or patterns with `*` per id part (`TMC-AUTHN-*@api`, `*@legacy-db`).
    #[arg(required = true)]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub args: DecideArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: Target,
    /// Unresolved threats at this severity or above fail the gate.
    #[arg(long, default_value = "high")]
    pub fail_on: String,
    /// Also fail on decisions carried by similarity that nobody confirmed.
    #[arg(long)]
    pub strict: bool,
    /// Today's date for expiry checks (default: the system clock), YYYY-MM-DD.
    #[arg(long)]
    pub today: Option<String>,
    /// Also write SARIF (with suppressions for decided threats) to this file.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Ask a team server (`tmc serve`) for the verdict on its current review instead of the
    /// local decisions file, e.g. `https://tmc.example.internal`.
    #[arg(long, value_name = "URL", requires = "product")]
    pub server: Option<String>,
    /// The product's id on the server.
    #[arg(long, value_name = "ID")]
    pub product: Option<i64>,
    /// Upload MODEL as a new version and draft it before asking (needs a developer token).
    #[arg(long, requires = "server")]
    pub push: bool,
    /// API token (default: $TMC_SERVER_TOKEN); create one with `tmc serve token`.
    #[arg(
        long,
        value_name = "TOKEN",
        hide_env_values = true,
        env = "TMC_SERVER_TOKEN"
    )]
    pub token: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Md,
    Json,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The old model file (or the model, with --git).
    pub old: PathBuf,
    /// The new model file (omit with --git: the working copy of OLD is the new one).
    pub new: Option<PathBuf>,
    /// Compare the model at this git revision with its working copy.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,
    /// Decisions applied to the new draft (default: `<new>.review.yaml` if present).
    #[arg(long, value_name = "FILE")]
    pub review: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: DiffFormat,
}

/// The decisions file beside a model: `threatmodel.yaml` → `threatmodel.review.yaml`.
pub fn default_review_path(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "threatmodel".into());
    model.with_file_name(format!("{stem}.review.yaml"))
}

fn review_path(t: &Target) -> PathBuf {
    t.review
        .clone()
        .unwrap_or_else(|| default_review_path(&t.model))
}

/// A model as loaded for review: the model, its bytes' hash and the draft as drafted.
pub struct Loaded {
    pub model: SystemModel,
    pub hash: String,
    pub parsed: tmc_dsl::ParsedModel,
    pub drafted: Draft,
}

/// Loads the model and drafts it with the rules (or reads the saved draft).
pub fn load(t: &Target, rules: &tmc_engine::RuleSet) -> Result<Loaded> {
    let bytes = crate::read_bounded(&t.model, tmc_dsl::MAX_MODEL_BYTES)?;
    let parsed = crate::rules_cmd::parse_checked(&t.model, &bytes)?;
    let drafted = match &t.draft {
        Some(p) => {
            let b = crate::read_bounded(p, 64 * 1024 * 1024)?;
            serde_json::from_slice(&b)
                .with_context(|| format!("{} is not a tmc draft (JSON)", p.display()))?
        }
        None => draft_rules(&parsed.model, rules, &t.model)?,
    };
    Ok(Loaded {
        model: parsed.model.clone(),
        hash: tmc_review::model_hash(&bytes),
        parsed,
        drafted,
    })
}

fn draft_rules(model: &SystemModel, rules: &tmc_engine::RuleSet, path: &Path) -> Result<Draft> {
    let mut req = tmc_app::DraftRequest::new(model, rules, tmc_app::GeneratorMode::Rules);
    req.source_file = Some(path.display().to_string());
    Ok(tmc_app::draft(&req)?.draft)
}

/// Applies `decisions` to a copy of the drafted threats.
pub fn reviewed(
    l: &Loaded,
    decisions: &Decisions,
    file: &Path,
) -> (Draft, tmc_review::ApplyReport) {
    let mut draft = l.drafted.clone();
    let mut ctx = ApplyContext::from_model(&l.model, Some(l.hash.clone()));
    ctx.file = Some(file.display().to_string());
    let report = tmc_review::apply(&mut draft, decisions, &ctx);
    (draft, report)
}

/// Opens the decisions file and refuses one made for another model.
fn open_review(path: &Path, model: &Path) -> Result<ReviewFile> {
    let file = ReviewFile::open(path)?;
    if let (Some(named), Some(name)) = (&file.decisions.model, model.file_name())
        && Path::new(named).file_name() != Some(name)
    {
        return Err(crate::input_error(format!(
            "{} holds decisions for the model `{named}`, not {}; pass --review with the right file",
            path.display(),
            model.display()
        )));
    }
    Ok(file)
}

/// Who is deciding: the flag, `TMC_REVIEWER`, `git config user.name`, `USER`.
fn reviewer(flag: &Option<String>) -> Option<String> {
    if let Some(r) = flag {
        return Some(r.clone());
    }
    if let Ok(r) = std::env::var("TMC_REVIEWER")
        && !r.trim().is_empty()
    {
        return Some(r);
    }
    let git = std::process::Command::new("git")
        .args(["config", "user.name"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    git.or_else(|| std::env::var("USER").ok())
}

fn stamp_model(decisions: &mut Decisions, model: &Path, hash: &str) {
    decisions.model = model.file_name().map(|n| n.to_string_lossy().to_string());
    decisions.model_hash = Some(hash.to_string());
}

fn parse_severity(text: &str) -> Result<Severity> {
    Severity::parse(text).ok_or_else(|| {
        crate::input_error(format!(
            "severity `{text}`: use info, low, medium, high or critical"
        ))
    })
}

fn find<'a>(draft: &'a Draft, id: &str) -> Option<&'a Threat> {
    draft.threats.iter().find(|t| t.id == id)
}

fn unknown_id(id: &str, model: &Path) -> anyhow::Error {
    crate::input_error(format!(
        "no threat `{id}` in the draft of {}; `tmc review list {}` shows the ids",
        model.display(),
        model.display()
    ))
}

pub fn run(cmd: ReviewCommand, rules: &tmc_engine::RuleSet, quiet: bool) -> Result<()> {
    match cmd {
        ReviewCommand::List {
            target,
            status,
            severity,
            stride,
            element,
            origin,
            format,
        } => {
            let l = load(&target, rules)?;
            let path = review_path(&target);
            let file = open_review(&path, &target.model)?;
            let (draft, report) = reviewed(&l, &file.decisions, &path);
            let filter = ListFilter::new(status, severity, stride, element, origin)?;
            let shown: Vec<&Threat> = draft.threats.iter().filter(|t| filter.keep(t)).collect();
            match format {
                OutputFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&shown)?);
                }
                OutputFormat::Text => {
                    for t in &shown {
                        println!("{}", list_line(t));
                    }
                    if !quiet {
                        let tally = tmc_review::tally(&draft);
                        eprintln!(
                            "{} of {} threats shown; {} unresolved, {} reviewed, {} need confirmation, {} orphaned decision(s)",
                            shown.len(),
                            tally.total,
                            tally.unresolved,
                            tally.reviewed,
                            tally.needs_confirmation,
                            report.orphans
                        );
                        for o in draft.review.iter().flat_map(|r| &r.orphaned) {
                            eprintln!("warning: orphaned decision {}: {}", o.key, o.reason);
                        }
                    }
                }
            }
            Ok(())
        }
        ReviewCommand::Show { target, id } => {
            let l = load(&target, rules)?;
            let path = review_path(&target);
            let file = open_review(&path, &target.model)?;
            let (draft, _) = reviewed(&l, &file.decisions, &path);
            let t = find(&draft, &id).ok_or_else(|| unknown_id(&id, &target.model))?;
            print!("{}", show_text(t));
            Ok(())
        }
        ReviewCommand::Open(d) => decide(d, ThreatStatus::Open, rules, quiet),
        ReviewCommand::Accept(d) => decide(d, ThreatStatus::Accepted, rules, quiet),
        ReviewCommand::Mitigate(d) => decide(d, ThreatStatus::Mitigated, rules, quiet),
        ReviewCommand::Transfer(d) => decide(d, ThreatStatus::Transferred, rules, quiet),
        ReviewCommand::Avoid(d) => decide(d, ThreatStatus::Avoided, rules, quiet),
        ReviewCommand::Reject(d) => decide(d, ThreatStatus::NotApplicable, rules, quiet),
        ReviewCommand::Severity {
            target,
            id,
            level,
            reason,
            reviewer: who,
        } => {
            let level = parse_severity(&level)?;
            edit(&target, rules, quiet, |l, decisions| {
                if find(&l.drafted, &id).is_none() {
                    return Err(unknown_id(&id, &target.model));
                }
                decisions.set_severity(&id, level, &reason, reviewer(&who), &now())?;
                Ok(format!("{id}: severity {}", level.as_str()))
            })
        }
        ReviewCommand::Mitigation {
            target,
            id,
            mitigation,
            text,
            status,
            owner,
            ticket,
            due,
        } => {
            let status = match status {
                Some(s) => Some(MitigationStatus::parse(&s).ok_or_else(|| {
                    crate::input_error(format!(
                        "mitigation status `{s}`: use proposed, planned, in-progress, implemented, verified or wont-do"
                    ))
                })?),
                None => None,
            };
            edit(&target, rules, quiet, |l, decisions| {
                let threat = find(&l.drafted, &id);
                if threat.is_none() && !decisions.manual_threats.iter().any(|m| m.id == id) {
                    return Err(unknown_id(&id, &target.model));
                }
                let drafted_mitigation = threat
                    .map(|t| t.mitigations.iter().any(|m| m.id == mitigation))
                    .unwrap_or(false);
                let recorded = decisions
                    .threats
                    .get(&id)
                    .map(|d| d.mitigations.iter().any(|m| m.id == mitigation))
                    .unwrap_or(false);
                if !drafted_mitigation && !recorded {
                    let Some(text) = &text else {
                        return Err(crate::input_error(format!(
                            "{id} has no mitigation `{mitigation}`; give --text to add it as a new one"
                        )));
                    };
                    decisions.add_mitigation(&id, &mitigation, text, status.unwrap_or_default())?;
                }
                decisions.set_mitigation(
                    &id,
                    &mitigation,
                    MitigationUpdate {
                        status,
                        owner: owner.clone(),
                        ticket: ticket.clone(),
                        due: due.clone(),
                    },
                )?;
                if let Some(entry) = decisions.threats.get_mut(&id) {
                    entry.reviewer = reviewer(&None);
                    entry.reviewed_at = Some(now());
                }
                Ok(format!("{id}: mitigation {mitigation} updated"))
            })
        }
        ReviewCommand::Add {
            target,
            id,
            title,
            description,
            on,
            stride,
            severity,
            cwe,
            reviewer: who,
        } => {
            let severity = parse_severity(&severity)?;
            let stride: Vec<Stride> = stride
                .split([',', ' '])
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    Stride::parse(s).ok_or_else(|| {
                        crate::input_error(format!("STRIDE `{s}`: use S, T, R, I, D or E"))
                    })
                })
                .collect::<Result<_>>()?;
            edit(&target, rules, quiet, |l, decisions| {
                for e in &on {
                    if l.model.component(e).is_none()
                        && !l.model.flows.iter().any(|f| &f.id == e)
                        && l.model.data_asset(e).is_none()
                        && !l.model.trust_boundaries.iter().any(|b| &b.id == e)
                    {
                        return Err(crate::input_error(format!(
                            "`{e}` is not an element of {}",
                            target.model.display()
                        )));
                    }
                }
                let id = id.clone().unwrap_or_else(|| {
                    let n = decisions.manual_threats.len() + 1;
                    format!("{}{n:03}", tmc_review::decisions::MANUAL_PREFIX)
                });
                decisions.add_manual_threat(tmc_review::ManualThreat {
                    id: id.clone(),
                    title: title.clone(),
                    description: description.clone(),
                    stride: stride.clone(),
                    targets: on.clone(),
                    severity,
                    cwe: cwe.clone(),
                    status: ThreatStatus::Open,
                    justification: None,
                    expires: None,
                    reviewer: reviewer(&who),
                    reviewed_at: Some(now()),
                    tickets: Vec::new(),
                    mitigations: Vec::new(),
                })?;
                Ok(format!("added {id}"))
            })
        }
        ReviewCommand::Walk {
            target,
            reviewer: who,
        } => walk(&target, rules, &reviewer(&who)),
    }
}

fn now() -> String {
    crate::eval_cmd::now_rfc3339()
}

/// Opens the decisions file, runs `change`, stamps the model and saves atomically (refusing a
/// file that changed underneath since it was read).
fn edit(
    target: &Target,
    rules: &tmc_engine::RuleSet,
    quiet: bool,
    change: impl FnOnce(&Loaded, &mut Decisions) -> Result<String>,
) -> Result<()> {
    let l = load(target, rules)?;
    let path = review_path(target);
    let mut file = open_review(&path, &target.model)?;
    let mut decisions = file.decisions.clone();
    let said = change(&l, &mut decisions)?;
    stamp_model(&mut decisions, &target.model, &l.hash);
    file.save(&decisions)?;
    if !quiet {
        eprintln!("{said} ({})", path.display());
    }
    Ok(())
}

fn decide(d: Decide, status: ThreatStatus, rules: &tmc_engine::RuleSet, quiet: bool) -> Result<()> {
    let who = reviewer(&d.args.reviewer);
    let stamp = now();
    edit(&d.target, rules, quiet, |l, decisions| {
        for id in &d.ids {
            let pattern = tmc_review::pattern::is_pattern(id);
            let threat = find(&l.drafted, id);
            let manual = decisions.manual_threats.iter().position(|m| &m.id == id);
            if let Some(i) = manual {
                let m = &mut decisions.manual_threats[i];
                m.status = status;
                m.justification = d.args.reason.clone();
                m.expires = d.args.expires.clone();
                m.reviewer = who.clone();
                m.reviewed_at = Some(stamp.clone());
                m.tickets.extend(d.args.tickets.iter().cloned());
                let m = m.clone();
                decisions.manual_threats.remove(i);
                decisions.add_manual_threat(m)?;
                continue;
            }
            if threat.is_none() && !pattern {
                return Err(unknown_id(id, &d.target.model));
            }
            decisions.decide(
                id,
                threat,
                status,
                d.args.reason.clone(),
                who.clone(),
                &stamp,
                d.args.expires.clone(),
            )?;
            if let Some(entry) = decisions.threats.get_mut(id) {
                for t in &d.args.tickets {
                    if !entry.tickets.contains(t) {
                        entry.tickets.push(t.clone());
                    }
                }
            }
        }
        Ok(format!("{} → {}", d.ids.join(", "), status.as_str()))
    })
}

/// Filters of `tmc review list`.
struct ListFilter {
    status: Option<Vec<ThreatStatus>>,
    severity: Option<Severity>,
    stride: Option<Stride>,
    element: Option<String>,
    origin: Option<String>,
}

impl ListFilter {
    fn new(
        status: Option<String>,
        severity: Option<String>,
        stride: Option<String>,
        element: Option<String>,
        origin: Option<String>,
    ) -> Result<ListFilter> {
        let status = match status.as_deref() {
            None => None,
            Some("unresolved") => Some(vec![ThreatStatus::Draft, ThreatStatus::Open]),
            Some(s) => Some(vec![ThreatStatus::parse(s).ok_or_else(|| {
                crate::input_error(format!(
                    "status `{s}`: use draft, open, mitigated, accepted, transferred, avoided, not-applicable or unresolved"
                ))
            })?]),
        };
        let severity = severity.as_deref().map(parse_severity).transpose()?;
        let stride = match stride {
            Some(s) => Some(Stride::parse(&s).ok_or_else(|| {
                crate::input_error(format!("STRIDE `{s}`: use S, T, R, I, D or E"))
            })?),
            None => None,
        };
        if let Some(o) = &origin
            && !["rule", "knowledge-base", "kb", "model", "import", "manual"].contains(&o.as_str())
        {
            return Err(crate::input_error(format!(
                "origin `{o}`: use rule, knowledge-base, model, import or manual"
            )));
        }
        let origin = origin.map(|o| {
            if o == "kb" {
                "knowledge-base".into()
            } else {
                o
            }
        });
        Ok(ListFilter {
            status,
            severity,
            stride,
            element,
            origin,
        })
    }

    fn keep(&self, t: &Threat) -> bool {
        self.status.as_ref().is_none_or(|s| s.contains(&t.status))
            && self.severity.is_none_or(|s| t.severity.level >= s)
            && self.stride.is_none_or(|s| t.stride.contains(&s))
            && self
                .element
                .as_ref()
                .is_none_or(|e| t.targets.iter().any(|r| &r.id == e))
            && self
                .origin
                .as_ref()
                .is_none_or(|o| t.provenance.origin() == o)
    }
}

fn stride_letters(t: &Threat) -> String {
    t.stride.iter().map(|s| s.letter()).collect()
}

fn list_line(t: &Threat) -> String {
    let flag = match &t.review {
        Some(r) if r.needs_confirmation => " (needs confirmation)",
        _ => "",
    };
    format!(
        "{:<16} {:<8} {:<3} {:<10} {}  {}{flag}",
        t.status.as_str(),
        t.severity.level.as_str(),
        stride_letters(t),
        t.provenance.origin(),
        t.id,
        t.title
    )
}

fn show_text(t: &Threat) -> String {
    let mut s = String::new();
    let targets: Vec<String> = t
        .targets
        .iter()
        .map(|r| format!("{} {} ({})", r.kind.as_str(), r.id, r.name))
        .collect();
    s.push_str(&format!("{}\n  {}\n", t.id, t.title));
    s.push_str(&format!(
        "  status {} · severity {} (likelihood {} × impact {}) · STRIDE {} · from {}\n",
        t.status.as_str(),
        t.severity.level.as_str(),
        t.severity.likelihood,
        t.severity.impact,
        stride_letters(t),
        t.provenance.origin()
    ));
    s.push_str(&format!("  on {}\n", targets.join(", ")));
    if !t.description.is_empty() {
        s.push_str(&format!("  {}\n", t.description));
    }
    if let Some(r) = &t.review {
        s.push_str(&format!(
            "  decision {} ({:?}{}){}{}\n",
            r.key,
            r.matched_by,
            if r.needs_confirmation {
                ", needs confirmation"
            } else {
                ""
            },
            r.reviewer
                .as_deref()
                .map(|w| format!(" by {w}"))
                .unwrap_or_default(),
            r.reviewed_at
                .as_deref()
                .map(|w| format!(" at {w}"))
                .unwrap_or_default()
        ));
        if let Some(j) = &r.justification {
            s.push_str(&format!("  why: {j}\n"));
        }
        if let Some(e) = &r.expires {
            s.push_str(&format!("  expires {e}\n"));
        }
        if let Some(o) = &r.severity_override {
            s.push_str(&format!(
                "  severity {} → {}: {}\n",
                o.drafted.as_str(),
                t.severity.level.as_str(),
                o.reason
            ));
        }
        if !r.tickets.is_empty() {
            s.push_str(&format!("  tickets {}\n", r.tickets.join(", ")));
        }
    }
    for m in &t.mitigations {
        let mut extra = Vec::new();
        if let Some(o) = &m.owner {
            extra.push(format!("owner {o}"));
        }
        if let Some(k) = &m.ticket {
            extra.push(format!("ticket {k}"));
        }
        if let Some(d) = &m.due {
            extra.push(format!("due {d}"));
        }
        s.push_str(&format!(
            "  mitigation {} [{}{}] {}\n",
            m.id,
            m.status.as_str(),
            if extra.is_empty() {
                String::new()
            } else {
                format!("; {}", extra.join(", "))
            },
            m.text
        ));
    }
    s
}

/// The interactive walk: each unresolved threat, a key to decide it, saved after every
/// decision so quitting (or a crash) loses nothing already decided.
fn walk(target: &Target, rules: &tmc_engine::RuleSet, who: &Option<String>) -> Result<()> {
    let l = load(target, rules)?;
    let path = review_path(target);
    let mut file = open_review(&path, &target.model)?;
    let (draft, _) = reviewed(&l, &file.decisions, &path);
    let open: Vec<Threat> = draft
        .threats
        .iter()
        .filter(|t| t.status.is_unresolved())
        .cloned()
        .collect();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let tty = std::io::stdin().is_terminal();
    let mut err = std::io::stderr();
    let mut decided = 0usize;
    let total = open.len();
    for (i, t) in open.iter().enumerate() {
        writeln!(err, "\n[{}/{total}] {}", i + 1, show_text(t).trim_end())?;
        write!(
            err,
            "[o]pen [a]ccept [m]itigated [t]ransfer a[v]oid [n]ot applicable [e] severity [s]kip [q]uit > "
        )?;
        err.flush()?;
        let Some(key) = lines.next().transpose()? else {
            break;
        };
        let key = key.trim().to_lowercase();
        let status = match key.as_str() {
            "o" => ThreatStatus::Open,
            "a" => ThreatStatus::Accepted,
            "m" => ThreatStatus::Mitigated,
            "t" => ThreatStatus::Transferred,
            "v" => ThreatStatus::Avoided,
            "n" => ThreatStatus::NotApplicable,
            "q" => break,
            "e" => {
                write!(err, "severity (info/low/medium/high/critical) > ")?;
                err.flush()?;
                let level = lines.next().transpose()?.unwrap_or_default();
                write!(err, "reason > ")?;
                err.flush()?;
                let reason = lines.next().transpose()?.unwrap_or_default();
                let mut decisions = file.decisions.clone();
                match parse_severity(&level).and_then(|lv| {
                    Ok(decisions.set_severity(&t.id, lv, &reason, who.clone(), &now())?)
                }) {
                    Ok(()) => {
                        stamp_model(&mut decisions, &target.model, &l.hash);
                        file.save(&decisions)?;
                        decided += 1;
                    }
                    Err(e) => writeln!(err, "not saved: {e:#}")?,
                }
                continue;
            }
            _ => continue,
        };
        let reason = if status.needs_justification() || !tty {
            write!(err, "reason > ")?;
            err.flush()?;
            lines
                .next()
                .transpose()?
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
        } else {
            None
        };
        let mut decisions = file.decisions.clone();
        match decisions.decide(&t.id, Some(t), status, reason, who.clone(), &now(), None) {
            Ok(()) => {
                stamp_model(&mut decisions, &target.model, &l.hash);
                file.save(&decisions)?;
                decided += 1;
            }
            Err(e) => writeln!(err, "not saved: {e}")?,
        }
    }
    writeln!(err, "{decided} decision(s) saved to {}", path.display())?;
    Ok(())
}

/// `tmc check`: the CI gate over the reviewed draft.
pub fn check(args: CheckArgs, rules: &tmc_engine::RuleSet, quiet: bool) -> Result<()> {
    if let Some(server) = &args.server {
        return check_remote(&args, server, quiet);
    }
    let l = load(&args.target, rules)?;
    let path = review_path(&args.target);
    let file = open_review(&path, &args.target.model)?;
    let (draft, _) = reviewed(&l, &file.decisions, &path);
    let today = args
        .today
        .clone()
        .unwrap_or_else(|| now().chars().take(10).collect());
    let verdict = tmc_review::check(
        &draft,
        &tmc_review::GateOptions {
            threshold: parse_severity(&args.fail_on)?,
            today,
            current_model_hash: Some(l.hash.clone()),
            fail_on_needs_confirmation: args.strict,
        },
    );
    if let Some(out) = &args.sarif {
        let options = tmc_export::ExportOptions {
            model_uri: std::path::absolute(&args.target.model)
                .unwrap_or_else(|_| args.target.model.clone())
                .display()
                .to_string(),
            positions: crate::export_cmd::positions(&l.parsed),
            repo_root: crate::export_cmd::repo_root(),
        };
        let sarif = tmc_export::export(tmc_export::Format::Sarif, &l.model, &draft, &options)?;
        std::fs::write(out, sarif).with_context(|| format!("writing {}", out.display()))?;
    }
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&verdict)?),
        OutputFormat::Text => {
            if !quiet || !verdict.pass {
                print!("{}", verdict.summary_text());
            }
        }
    }
    if !verdict.pass {
        return Err(Exit(1).into());
    }
    Ok(())
}

/// Reads a model file at a git revision (`git show REV:./FILE` from the file's directory).
fn git_show(rev: &str, path: &Path) -> Result<Vec<u8>> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the model path names no file")?
        .to_string_lossy()
        .to_string();
    if rev.starts_with('-') {
        bail!("--git `{rev}` is not a revision");
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("show")
        .arg(format!("{rev}:./{name}"))
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git show {rev}:{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if out.stdout.len() > tmc_dsl::MAX_MODEL_BYTES {
        bail!(
            "{} at {rev} is larger than the model size limit",
            path.display()
        );
    }
    Ok(out.stdout)
}

/// `tmc diff`: what changed in the model, its threats and the review between two versions.
pub fn diff(args: DiffArgs, rules: &tmc_engine::RuleSet) -> Result<()> {
    let (old_label, old_bytes, new_path) = match (&args.git, &args.new) {
        (Some(rev), None) => (
            format!("{} at {rev}", args.old.display()),
            git_show(rev, &args.old)?,
            args.old.clone(),
        ),
        (None, Some(new)) => (
            args.old.display().to_string(),
            crate::read_bounded(&args.old, tmc_dsl::MAX_MODEL_BYTES)?,
            new.clone(),
        ),
        (Some(_), Some(_)) => {
            return Err(crate::input_error("give either NEW or --git REV, not both"));
        }
        (None, None) => {
            return Err(crate::input_error(
                "give the new model file, or --git REV to compare with a revision",
            ));
        }
    };
    let old = crate::rules_cmd::parse_checked(&args.old, &old_bytes)?;
    let mut old_draft = draft_rules(&old.model, rules, &args.old)?;
    // The old version's own decisions, so status changes in the diff are real changes: the
    // decisions file beside the old model, or at the same revision.
    let old_review_path = default_review_path(&args.old);
    let old_review: Option<Vec<u8>> = match &args.git {
        Some(rev) => git_show(rev, &old_review_path).ok(),
        None if args.new.as_deref() != Some(args.old.as_path()) && old_review_path.is_file() => {
            Some(crate::read_bounded(
                &old_review_path,
                tmc_review::MAX_REVIEW_BYTES,
            )?)
        }
        None => None,
    };
    if let Some(bytes) = old_review {
        let label = format!("{} (old)", old_review_path.display());
        let decisions = tmc_review::parse(&bytes, &label)?;
        let ctx = ApplyContext::from_model(&old.model, Some(tmc_review::model_hash(&old_bytes)));
        tmc_review::apply(&mut old_draft, &decisions, &ctx);
    }
    let target = Target {
        model: new_path.clone(),
        review: args.review.clone(),
        draft: None,
    };
    let l = load(&target, rules)?;
    let path = review_path(&target);
    let new_draft = if path.is_file() {
        let file = open_review(&path, &new_path)?;
        reviewed(&l, &file.decisions, &path).0
    } else {
        l.drafted.clone()
    };
    let d = tmc_diff::diff(&old.model, &l.model, &old_draft, &new_draft);
    match args.format {
        DiffFormat::Md => print!(
            "{}",
            tmc_diff::render_markdown(&d, &old_label, &new_path.display().to_string())
        ),
        DiffFormat::Json => println!("{}", tmc_diff::render_json(&d)?),
    }
    Ok(())
}

/// The decisions that apply to `tmc draft`: `--review FILE`, else the file beside the model
/// when it exists; none with `--no-review`.
pub fn draft_review(
    model_path: &Path,
    flag: Option<&Path>,
    skip: bool,
) -> Result<Option<(PathBuf, Decisions)>> {
    if skip {
        return Ok(None);
    }
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => {
            let p = default_review_path(model_path);
            if !p.is_file() {
                return Ok(None);
            }
            p
        }
    };
    let file = open_review(&path, model_path)?;
    Ok(Some((path, file.decisions)))
}

/// `tmc check --server URL --product ID`: optionally pushes the model as a new version and
/// drafts it, then asks the server's gate (the same `tmc_review::check`) for its verdict.
fn check_remote(args: &CheckArgs, server: &str, quiet: bool) -> Result<()> {
    let base = server.trim_end_matches('/');
    if !(base.starts_with("https://")
        || base.starts_with("http://127.")
        || base.starts_with("http://localhost")
        || base.starts_with("http://[::1]"))
    {
        bail!("--server must be https:// (plain http only on loopback): {base}");
    }
    let pid = args.product.context("--server needs --product ID")?;
    let token = args.token.clone().context(
        "--server needs an API token: --token or TMC_SERVER_TOKEN (`tmc serve token USER`)",
    )?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let answer = |resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
                  what: &str|
     -> Result<serde_json::Value> {
        let mut resp = resp.with_context(|| format!("{what}: {base}"))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: the server answered {status}: {}", body.trim());
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: the answer is not JSON"))
    };
    if args.push {
        let bytes = crate::read_bounded(&args.target.model, tmc_dsl::MAX_MODEL_BYTES)?;
        let name = args
            .target
            .model
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "threatmodel.yaml".into());
        let url = format!("{base}/api/v1/products/{pid}/versions");
        let v = answer(
            agent
                .post(&url)
                .query("file_name", &name)
                .header("Authorization", &auth)
                .header("Content-Type", "application/octet-stream")
                .send(&bytes[..]),
            "uploading the model",
        )?;
        let d = answer(
            agent
                .post(format!("{base}/api/v1/products/{pid}/draft"))
                .header("Authorization", &auth)
                .send_empty(),
            "drafting on the server",
        )?;
        if !quiet {
            eprintln!(
                "pushed {name} as version {} and drafted it: {} threats",
                v["number"], d["threats"]
            );
        }
    }
    let verdict = answer(
        agent
            .get(format!("{base}/api/v1/products/{pid}/check"))
            .query("fail_on", &args.fail_on)
            .header("Authorization", &auth)
            .call(),
        "asking for the gate verdict",
    )?;
    let pass = verdict["pass"].as_bool().unwrap_or(false);
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&verdict)?),
        OutputFormat::Text => {
            println!(
                "{}: product {pid} on {base}, {} failure(s)",
                if pass { "PASS" } else { "FAIL" },
                verdict["failures"].as_array().map_or(0, Vec::len)
            );
            for f in verdict["failures"].as_array().into_iter().flatten() {
                let what = ["id", "key"]
                    .iter()
                    .find_map(|k| f[*k].as_str())
                    .unwrap_or_default();
                println!(
                    "  - {} {what} {}",
                    f["kind"].as_str().unwrap_or("failure"),
                    f["title"]
                        .as_str()
                        .or(f["reason"].as_str())
                        .unwrap_or_default()
                );
            }
        }
    }
    if !pass {
        return Err(Exit(1).into());
    }
    Ok(())
}
